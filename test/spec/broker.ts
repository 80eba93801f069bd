// A fake MQTT broker for the spec tests: a raw TCP server on loopback that records every byte the
// client sends, cut into packets by this file's own reading of spec 2.2 (not the codec under test),
// answers what it is told to, and can send any bytes, valid or not.
//
//   const fb = env.add(await fakeBroker(), (b) => b.close());
//   const dev = env.add(device(fb.port, { client_id: "c" }), (d) => d.close());
//   await dev.connect();                      // fb answered the CONNECT with CONNACK 0
//   const c = fb.conns[0];
//   dev.client.publish("t", "m", { qos: 1 });
//   const p = await c.waitPacket((p) => p.type === PUBLISH);
//
// By default it answers like a broker: CONNECT -> CONNACK (fb.sessionPresent, fb.returnCode),
// PUBLISH QoS 1 -> PUBACK, QoS 2 -> PUBREC, PUBREL -> PUBCOMP, SUBSCRIBE -> SUBACK granting the
// requested QoS, UNSUBSCRIBE -> UNSUBACK, PINGREQ -> PINGRESP. Each answer can be switched off in
// fb.answer, per type name, and onPacket can take over any packet.
// Bytes are binary strings (one char per byte), as on the board.
import net from "node:net";
import { LOOPBACK, remainingLength, waitFor } from "../support/util.js";

export const CONNECT = 1, CONNACK = 2, PUBLISH = 3, PUBACK = 4, PUBREC = 5, PUBREL = 6, PUBCOMP = 7,
  SUBSCRIBE = 8, SUBACK = 9, UNSUBSCRIBE = 10, UNSUBACK = 11, PINGREQ = 12, PINGRESP = 13, DISCONNECT = 14;
export const TYPE_NAMES = ["reserved0", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
  "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "reserved15"];

// ---------------------------------------------------------------------------------------------
// Bytes

export const chr = (...b: number[]) => String.fromCharCode(...b);
export const u16 = (n: number) => chr((n >> 8) & 255, n & 255);
/** A UTF-8 string field: 2-byte length + bytes (spec 1.5.3). `bytes` is already a binary string. */
export const field = (bytes: string) => u16(bytes.length) + bytes;
/** Text -> its UTF-8 bytes as a binary string (Node's encoder, independent of src/protocol/utf8.ts). */
export const utf8 = (text: string) => Buffer.from(text, "utf8").toString("latin1");
export const hex = (s: string, max = 80) =>
  Buffer.from(s.length > max ? s.slice(0, max) : s, "latin1").toString("hex").replace(/(..)/g, "$1 ").trim() +
  (s.length > max ? " ..." : "");

export const packet = (type: number, flags: number, body: string) => chr(type << 4 | flags) + remainingLength(body.length) + body;

// Packets a broker sends.
export const connack = (sessionPresent: boolean, rc = 0) => packet(CONNACK, 0, chr(sessionPresent ? 1 : 0, rc));
export const publish = (topicBytes: string, payload: string, qos: number, id = 0, dup = false, retain = false) =>
  packet(PUBLISH, (dup ? 8 : 0) | qos << 1 | (retain ? 1 : 0), field(topicBytes) + (qos ? u16(id) : "") + payload);
export const ack = (type: number, id: number) => packet(type, type === PUBREL ? 2 : 0, u16(id));
export const suback = (id: number, codes: number[]) => packet(SUBACK, 0, u16(id) + chr(...codes));
export const PINGRESP_PACKET = packet(PINGRESP, 0, "");

// ---------------------------------------------------------------------------------------------
// Reading what the client sent

/** One packet from the client. */
export interface Pkt {
  type: number;
  flags: number;
  /** Remaining-length bytes (variable header + payload). */
  body: string;
  /** The whole packet as sent. */
  raw: string;
  /** Date.now() when it was read. */
  at: number;
}

export interface ConnectInfo {
  protocolName: string;
  level: number;
  flags: number;
  keepAlive: number;
  /** Payload fields in order, each a binary string (the 2-byte length taken off). */
  fields: string[];
  /** Payload bytes left that are not a whole length-prefixed field ("" for a well-formed CONNECT). */
  rest: string;
}

/** Reads a length-prefixed field at `i`; undefined when the bytes run out. */
function readField(s: string, i: number): [string, number] | undefined {
  if (i + 2 > s.length) return undefined;
  const n = s.charCodeAt(i) << 8 | s.charCodeAt(i + 1);
  if (i + 2 + n > s.length) return undefined;
  return [s.substr(i + 2, n), i + 2 + n];
}

export function parseConnect(p: Pkt): ConnectInfo {
  const b = p.body, name = readField(b, 0);
  if (!name) throw new Error("CONNECT without a protocol name: " + hex(b));
  let i = name[1];
  const info: ConnectInfo = {
    protocolName: name[0], level: b.charCodeAt(i), flags: b.charCodeAt(i + 1),
    keepAlive: b.charCodeAt(i + 2) << 8 | b.charCodeAt(i + 3), fields: [], rest: "",
  };
  i += 4;
  for (;;) {
    const f = readField(b, i);
    if (!f) break;
    info.fields.push(f[0]);
    i = f[1];
  }
  info.rest = b.substr(i);
  return info;
}

export interface PublishInfo { topic: string; id: number; payload: string; qos: number; dup: boolean; retain: boolean }

/** topic: the topic bytes (binary string). id: 0 when QoS 0 (no identifier is read then). */
export function parsePublish(p: Pkt): PublishInfo {
  const qos = (p.flags >> 1) & 3, t = readField(p.body, 0);
  if (!t) throw new Error("PUBLISH without a topic: " + hex(p.body));
  const id = qos ? p.body.charCodeAt(t[1]) << 8 | p.body.charCodeAt(t[1] + 1) : 0;
  return { topic: t[0], id, payload: p.body.substr(t[1] + (qos ? 2 : 0)), qos, dup: !!(p.flags & 8), retain: !!(p.flags & 1) };
}

/** Packet identifier of PUBACK/PUBREC/PUBREL/PUBCOMP/SUBSCRIBE/UNSUBSCRIBE (first 2 body bytes), or PUBLISH. */
export function idOf(p: Pkt): number {
  if (p.type === PUBLISH) return parsePublish(p).id;
  return p.body.charCodeAt(0) << 8 | p.body.charCodeAt(1);
}

/** SUBSCRIBE: id and [filter bytes, requested QoS byte] pairs; rest = trailing bytes that make no pair. */
export function parseSubscribe(p: Pkt): { id: number; pairs: [string, number][]; rest: string } {
  const out: [string, number][] = [];
  let i = 2;
  for (;;) {
    const f = readField(p.body, i);
    if (!f || f[1] >= p.body.length) break;
    out.push([f[0], p.body.charCodeAt(f[1])]);
    i = f[1] + 1;
  }
  return { id: idOf(p), pairs: out, rest: p.body.substr(i) };
}

/** UNSUBSCRIBE: id and the filter bytes; rest = trailing bytes that make no field. */
export function parseUnsubscribe(p: Pkt): { id: number; filters: string[]; rest: string } {
  const out: string[] = [];
  let i = 2;
  for (;;) {
    const f = readField(p.body, i);
    if (!f) break;
    out.push(f[0]);
    i = f[1];
  }
  return { id: idOf(p), filters: out, rest: p.body.substr(i) };
}

export const describePkt = (p: Pkt) => `${TYPE_NAMES[p.type]}(${hex(p.raw, 24)})`;

// ---------------------------------------------------------------------------------------------
// The server

export class FakeConn {
  readonly packets: Pkt[] = [];
  /** Every byte received, in order (also what follows a malformed packet). */
  received = "";
  /** The client half-closed (FIN) or the socket closed. */
  ended = false;
  closed = false;
  endedAt = 0;
  /** Problems reading the client's bytes (a malformed remaining length). */
  readonly errors: string[] = [];
  private buf = "";

  constructor(readonly broker: FakeBroker, readonly sock: net.Socket, readonly index: number) {
    sock.setNoDelay(true);
    sock.on("data", (d) => this.onData(d.toString("latin1")));
    sock.on("end", () => { this.ended = true; this.endedAt = Date.now(); if (!sock.destroyed) sock.end(); });
    sock.on("close", () => { this.closed = true; if (!this.ended) { this.ended = true; this.endedAt = Date.now(); } });
    sock.on("error", () => {});
  }

  private onData(d: string) {
    this.received += d;
    this.buf += d;
    for (;;) {
      const b = this.buf;
      let i = 1, len = 0, mul = 1, byte = 128;
      while (byte & 128) {
        if (i >= b.length) return;
        if (i > 4) { this.errors.push("remaining length longer than 4 bytes"); this.buf = ""; return; }
        byte = b.charCodeAt(i++);
        len += (byte & 127) * mul;
        mul *= 128;
      }
      if (b.length < i + len) return;
      const first = b.charCodeAt(0);
      const p: Pkt = { type: first >> 4, flags: first & 15, body: b.substr(i, len), raw: b.substr(0, i + len), at: Date.now() };
      this.buf = b.substr(i + len);
      this.packets.push(p);
      this.broker.handle(this, p);
    }
  }

  /** Sends bytes (a binary string) to the client. */
  send(bytes: string): void {
    if (!this.sock.destroyed) this.sock.write(Buffer.from(bytes, "latin1"));
  }

  /** Closes the connection without a FIN (RST), as a crashed broker or a cut link would. */
  drop(): void {
    this.sock.resetAndDestroy();
  }

  /** Packets of `type` (all when undefined). */
  of(type?: number): Pkt[] {
    return type === undefined ? this.packets.slice() : this.packets.filter((p) => p.type === type);
  }

  /** Waits for the `count`-th packet (from index `from`) matching `pred`; resolves with all matching. */
  async waitPackets(pred: (p: Pkt) => boolean, count = 1, timeoutMs = 5000, from = 0): Promise<Pkt[]> {
    const pick = () => this.packets.slice(from).filter(pred);
    await waitFor(() => pick().length >= count, timeoutMs,
      () => `${count} matching packet(s) from the client on connection ${this.index}; got: ${this.packets.map(describePkt).join(" ")}`);
    return pick();
  }

  async waitPacket(pred: (p: Pkt) => boolean, timeoutMs = 5000, from = 0): Promise<Pkt> {
    return (await this.waitPackets(pred, 1, timeoutMs, from))[0];
  }

  async waitEnded(timeoutMs = 5000): Promise<void> {
    await waitFor(() => this.ended, timeoutMs, `the client to close connection ${this.index}`);
  }
}

export interface Answers {
  connect: boolean;
  publish: boolean;
  pubrel: boolean;
  subscribe: boolean;
  unsubscribe: boolean;
  pingreq: boolean;
}

export class FakeBroker {
  readonly conns: FakeConn[] = [];
  /** Which packets get the usual answer. */
  readonly answer: Answers = { connect: true, publish: true, pubrel: true, subscribe: true, unsubscribe: true, pingreq: true };
  /** CONNACK session present flag: a value or a function of the connection. */
  sessionPresent: boolean | ((c: FakeConn) => boolean) = false;
  returnCode = 0;
  /** Called first for every packet; return true to skip the usual answer. */
  onPacket?: (c: FakeConn, p: Pkt) => boolean | void;

  constructor(readonly server: net.Server, readonly port: number) {
    server.on("connection", (s) => this.conns.push(new FakeConn(this, s, this.conns.length)));
  }

  handle(c: FakeConn, p: Pkt): void {
    if (this.onPacket && this.onPacket(c, p)) return;
    const a = this.answer;
    switch (p.type) {
      case CONNECT:
        if (a.connect) {
          const sp = typeof this.sessionPresent === "function" ? this.sessionPresent(c) : this.sessionPresent;
          c.send(connack(sp, this.returnCode));
        }
        break;
      case PUBLISH: {
        const qos = (p.flags >> 1) & 3;
        if (a.publish && qos) c.send(ack(qos === 1 ? PUBACK : PUBREC, idOf(p)));
        break;
      }
      case PUBREL: if (a.pubrel) c.send(ack(PUBCOMP, idOf(p))); break;
      case SUBSCRIBE: if (a.subscribe) { const s = parseSubscribe(p); c.send(suback(s.id, s.pairs.map((x) => x[1]))); } break;
      case UNSUBSCRIBE: if (a.unsubscribe) c.send(ack(UNSUBACK, idOf(p))); break;
      case PINGREQ: if (a.pingreq) c.send(PINGRESP_PACKET); break;
    }
  }

  /** The `n`-th connection (0-based), once it is there. */
  async conn(n: number, timeoutMs = 5000): Promise<FakeConn> {
    await waitFor(() => this.conns.length > n, timeoutMs, `connection ${n} to the fake broker (have ${this.conns.length})`);
    return this.conns[n];
  }

  /** Every packet the client sent, on every connection, in order. */
  all(): Pkt[] {
    return this.conns.flatMap((c) => c.packets);
  }

  close(): Promise<void> {
    for (const c of this.conns) c.sock.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export function fakeBroker(): Promise<FakeBroker> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, LOOPBACK, () => {
      const addr = server.address();
      resolve(new FakeBroker(server, typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The client side

/**
 * What create() says to `options` on the board of `dev` (where the module is loaded): undefined
 * when it accepts them, else the thrown error's {code, message}.
 */
export function createError(dev: { run(code: string): any }, host: string, options: Record<string, unknown>):
  { code: string; message: string } | undefined {
  const r = dev.run(`(function () {
    try { require("mote-mqtt").create(${JSON.stringify(host)}, ${JSON.stringify(options)}); return ""; }
    catch (e) { return JSON.stringify({ code: String(e.code), message: String(e.message) }); }
  })()`) as string;
  return r ? JSON.parse(r) : undefined;
}
