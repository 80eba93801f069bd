// Fuzz harness for the protocol layer and the client state machine (issue 4, "Fuzzing").
//
// Inputs (fast-check arbitraries, so failures shrink to small cases):
//   (a) valid broker packets, encoded here by hand from the layout in spec chapters 2-3 (not with the
//       codec under test), strung into sessions;
//   (b) mutations of valid sessions (recorded ones from Mosquitto in corpus.ts, and generated ones):
//       bit flips, byte insert/delete, truncation, duplicated ranges, random remaining-length bytes,
//       random type/flags nibbles;
//   (c) random bytes (uniform, or from a small alphabet of "interesting" header bytes);
// each cut into random pieces (random cuts, 1-byte pieces, or whole).
//
// Target 1 (`runFramer`): Framer + decode. Allowed outcomes: packets, or a thrown {code:"protocol"};
// each input takes bounded steps; Framer._pending/_head never exceed max_packet; for valid sessions
// the decoded packets equal what the spec layout says (an oracle written here).
// Target 2 (`runClient`): a Client on a fake Platform (fake sockets, a manual clock with Espruino's
// timer-id reuse), fed the same streams interleaved with timer ticks, socket events, user calls and
// correct broker answers. Properties: see `ClientRig.check` and `ClientRig.onWrite`.
//
// Both runners return undefined when all properties hold, else a one-line description of the first
// violation; they add their figures to a FuzzStats.
import fc from "fast-check";
import mqttPacket from "mqtt-packet";
import { Framer } from "../../src/protocol/framer.js";
import type { Frames } from "../../src/protocol/framer.js";
import { decode } from "../../src/protocol/codec.js";
import { writtenId as idOf } from "../spec/rig.js";
import type { Packet } from "../../src/protocol/codec.js";
import { Client } from "../../src/session/client.js";
import type { Options, Platform, Socket } from "../../src/session/client.js";
import { RECORDED } from "./corpus.js";
import { remainingLength } from "../support/util.js";

// ---------------------------------------------------------------------------------------------
// Bytes and the spec layout (independent of src/protocol/codec.ts)

const chr = (...b: number[]) => String.fromCharCode(...b);
export const toBin = (u: Uint8Array) => Buffer.from(u).toString("latin1");
export const utf8 = (text: string) => Buffer.from(text, "utf8").toString("latin1");
export const hex = (s: string, max = 96) =>
  Buffer.from(s.length > max ? s.slice(0, max) : s, "latin1").toString("hex") + (s.length > max ? "..." : "");

const two = (n: number) => chr((n >> 8) & 255, n & 255);
/** A control packet: type in the high nibble, flags in the low one, remaining length, body. */
export const controlPacket = (type: number, flags: number, body: string) => chr(type << 4 | flags) + remainingLength(body.length) + body;

/** A packet a broker may send, with what it means (for the decode oracle). */
export interface BrokerPacket {
  type: number;            // 2 CONNACK, 3 PUBLISH, 4 PUBACK, 5 PUBREC, 6 PUBREL, 7 PUBCOMP, 9 SUBACK, 11 UNSUBACK, 13 PINGRESP
  id: number;              // 0 when the type has none
  sp?: boolean;            // CONNACK session present
  rc?: number;             // CONNACK return code
  topic?: string;          // PUBLISH topic name (text)
  payload?: string;        // PUBLISH payload (binary string)
  qos?: number;
  dup?: boolean;
  retain?: boolean;
  granted?: number[];      // SUBACK return codes
}

/** Encode per spec 3.2 (CONNACK), 3.3 (PUBLISH), 3.4-3.7 (acks; PUBREL flags 0010), 3.9, 3.11, 3.13. */
export function encodeBroker(p: BrokerPacket): string {
  switch (p.type) {
    case 2: return controlPacket(2, 0, chr(p.sp ? 1 : 0, p.rc || 0));
    case 3: {
      const t = utf8(p.topic as string), qos = p.qos || 0;
      const flags = (p.dup ? 8 : 0) | qos << 1 | (p.retain ? 1 : 0);
      return controlPacket(3, flags, two(t.length) + t + (qos ? two(p.id) : "") + (p.payload || ""));
    }
    case 4: case 5: case 7: case 11: return controlPacket(p.type, 0, two(p.id));
    case 6: return controlPacket(6, 2, two(p.id));
    case 9: return controlPacket(9, 0, two(p.id) + chr(...(p.granted as number[])));
    case 13: return controlPacket(13, 0, "");
  }
  throw new Error("not a broker packet type: " + p.type);
}

/**
 * What Framer + decode must make of one valid packet when max_packet is `max`: the decoded packet
 * (`oversize` when header + body exceed max: a PUBLISH then keeps topic and id when they fit in the
 * first `max` body bytes and has an empty message), or "error" (an oversize packet of another type).
 */
export function expectDecoded(p: BrokerPacket, max: number): { packet: Packet; oversize: boolean } | "error" {
  const bytes = encodeBroker(p), oversize = bytes.length > max;
  if (p.type == 3) {
    const t = utf8(p.topic as string), qos = p.qos || 0, body = 2 + t.length + (qos ? 2 : 0) + (p.payload || "").length;
    const kept = oversize ? Math.min(body, max) : body;
    const out: Packet = { type: 3, id: 0, qos: qos, dup: !!p.dup, retain: !!p.retain, message: oversize ? "" : p.payload || "" };
    if (kept >= 2 + t.length) out.topic = p.topic;
    if (qos && kept >= 2 + t.length + 2) out.id = p.id;
    return { packet: out, oversize: oversize };
  }
  if (oversize) return "error";
  const out: Packet = { type: p.type, id: p.id };
  if (p.type == 2) { out.sessionPresent = !!p.sp; out.returnCode = p.rc; }
  if (p.type == 9) out.granted = (p.granted as number[]).slice();
  return { packet: out, oversize: false };
}

// ---------------------------------------------------------------------------------------------
// Generators

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/** A valid topic name as text: no wildcards, no U+0000, well-formed. */
const cleanTopic = (s: string) => s.replace(/[+#\0]/g, "_").replace(LONE_SURROGATE, "_") || "t";
const LEVELS = ["a", "b", "c", "a", "sensor", "temp", "$SYS", "é", "温度", "😀", "x y", ""];

export const topicTextArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom("a", "a/b", "a/c", "t/x", "$SYS/x", "b"), weight: 4 },
  {
    arbitrary: fc.array(fc.oneof(
      { arbitrary: fc.constantFrom(...LEVELS), weight: 4 },
      { arbitrary: fc.string({ unit: "binary", maxLength: 6 }), weight: 2 },
      { arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 20, maxLength: 120 }), weight: 1 },
    ), { minLength: 1, maxLength: 4 }).map((l) => cleanTopic(l.join("/"))),
    weight: 3,
  },
);

export const filterArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom("#", "+", "a/+", "+/b", "a/#", "$SYS/#", "+/+", "a/b", "a", "t/#"), weight: 5 },
  { arbitrary: topicTextArb, weight: 2 },
  { arbitrary: fc.constantFrom("a/#/b", "a+", ""), weight: 1 }, // invalid: refused by subscribe()
);

/** Packet ids: mostly a few small ones, so resends, duplicates and collisions happen. */
export const idArb = fc.oneof({ arbitrary: fc.integer({ min: 1, max: 4 }), weight: 4 }, { arbitrary: fc.integer({ min: 1, max: 65535 }), weight: 1 });

export const payloadArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 24 }), weight: 6 },
  { arbitrary: fc.uint8Array({ maxLength: 400 }), weight: 2 },
  { arbitrary: fc.uint8Array({ minLength: 900, maxLength: 2500 }), weight: 1 },
).map(toBin);

const publishArb: fc.Arbitrary<BrokerPacket> = fc.record({
  qos: fc.constantFrom(0, 1, 2, 2), topic: topicTextArb, payload: payloadArb, id: idArb, dup: fc.boolean(), retain: fc.boolean(),
}).map((r) => ({ type: 3, id: r.qos ? r.id : 0, topic: r.topic, payload: r.payload, qos: r.qos, dup: r.qos > 0 && r.dup, retain: r.retain }));

export const brokerPacketArb: fc.Arbitrary<BrokerPacket> = fc.oneof(
  { arbitrary: fc.tuple(fc.integer({ min: 0, max: 5 }), fc.boolean()).map(([rc, sp]) => ({ type: 2, id: 0, rc: rc, sp: rc == 0 && sp })), weight: 1 },
  { arbitrary: publishArb, weight: 6 },
  { arbitrary: fc.tuple(fc.constantFrom(4, 5, 6, 7, 11), idArb).map(([type, id]) => ({ type: type, id: id })), weight: 4 },
  {
    arbitrary: fc.tuple(idArb, fc.array(fc.constantFrom(0, 1, 2, 0x80), { minLength: 1, maxLength: 14 }))
      .map(([id, g]) => ({ type: 9, id: id, granted: g })), weight: 1,
  },
  { arbitrary: fc.constant({ type: 13, id: 0 }), weight: 1 },
);

/** An inbound QoS 2 exchange: PUBLISH, maybe resent (DUP), PUBREL, maybe a new message with the same id. */
const qos2FlowArb: fc.Arbitrary<BrokerPacket[]> = fc.tuple(publishArb, fc.nat(2), fc.boolean(), fc.boolean(), payloadArb)
  .map(([p, resends, release, again, next]) => {
    const first: BrokerPacket = { ...p, qos: 2, id: p.id || 1, dup: false };
    const out = [first];
    for (let i = 0; i < resends; i++) out.push({ ...first, dup: true });
    if (release) out.push({ type: 6, id: first.id });
    if (again) out.push({ ...first, payload: next });
    return out;
  });

/** A valid session from the broker: usually CONNACK 0 first, then any packets. */
export const sessionArb: fc.Arbitrary<BrokerPacket[]> = fc.tuple(
  fc.oneof(
    { arbitrary: fc.boolean().map((sp) => [{ type: 2, id: 0, rc: 0, sp: sp }]), weight: 8 },
    { arbitrary: fc.integer({ min: 1, max: 5 }).map((rc) => [{ type: 2, id: 0, rc: rc, sp: false }]), weight: 2 },
    { arbitrary: fc.constant([] as BrokerPacket[]), weight: 1 },
  ),
  fc.array(fc.oneof({ arbitrary: brokerPacketArb.map((p) => [p]), weight: 6 }, { arbitrary: qos2FlowArb, weight: 1 }), { maxLength: 10 }),
).map(([a, b]) => a.concat(...b));

/** One mutation; positions are taken modulo the current length when applied. */
export interface Mutation { op: "flip" | "insert" | "delete" | "truncate" | "dup" | "length" | "type" | "flags"; a: number; b: number; c: number }
export const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom("flip", "insert", "delete", "truncate", "dup", "length", "type", "flags"),
  a: fc.nat(), b: fc.nat(), c: fc.nat(255),
}) as fc.Arbitrary<Mutation>;

/** Split valid bytes into packets (start offsets), following the fixed header layout. */
function packetStarts(s: string): number[] {
  const out: number[] = [];
  let pos = 0;
  while (pos < s.length) {
    out.push(pos);
    let i = pos + 1, len = 0, mul = 1, b = 128;
    while (b & 128 && i < s.length && i - pos <= 4) { b = s.charCodeAt(i++); len += (b & 127) * mul; mul *= 128; }
    pos = i + len;
  }
  return out;
}

/** Apply mutations in order. Structure-aware ones (length, type, flags) hit a packet's header. */
export function mutate(bytes: string, muts: Mutation[]): string {
  let s = bytes;
  for (const m of muts) {
    const n = s.length, at = n ? m.a % n : 0;
    switch (m.op) {
      case "flip": if (n) s = s.slice(0, at) + chr(s.charCodeAt(at) ^ (1 << (m.c & 7))) + s.slice(at + 1); break;
      case "insert": s = s.slice(0, m.a % (n + 1)) + chr(m.c) + s.slice(m.a % (n + 1)); break;
      case "delete": s = s.slice(0, at) + s.slice(at + 1 + (m.b % 8)); break;
      case "truncate": s = s.slice(0, m.a % (n + 1)); break;
      case "dup": if (n) { const len = 1 + m.b % 64, piece = s.substr(at, len), to = m.c * 7919 % (n + 1); s = s.slice(0, to) + piece + s.slice(to); } break;
      default: {
        const starts = packetStarts(s);
        if (!starts.length) break;
        const p = starts[m.a % starts.length];
        if (m.op == "type") s = s.slice(0, p) + chr((m.c & 0xf0) | (s.charCodeAt(p) & 15)) + s.slice(p + 1);
        else if (m.op == "flags") s = s.slice(0, p) + chr((s.charCodeAt(p) & 0xf0) | (m.c & 15)) + s.slice(p + 1);
        else {
          // Replace the remaining-length bytes with 1..5 random ones (continuation bits set by c).
          let old = p + 1;
          while (old < s.length && old - p <= 4 && s.charCodeAt(old) & 128) old++;
          old++;
          let rl = "", seed = m.b;
          const k = 1 + m.c % 5;
          for (let j = 0; j < k; j++) { seed = (seed * 1103515245 + 12345) >>> 0; rl += chr((seed >>> 16) & 127 | (j < k - 1 || m.c & 32 ? 128 : 0)); }
          s = s.slice(0, p + 1) + rl + s.slice(Math.min(old, s.length));
        }
      }
    }
  }
  return s;
}

/** The bytes a broker sends, and where they came from. */
export interface Stream { kind: "valid" | "mutated" | "random"; bytes: string; packets?: BrokerPacket[] }

const validStreamArb: fc.Arbitrary<Stream> = sessionArb.map((ps) => ({ kind: "valid", bytes: ps.map(encodeBroker).join(""), packets: ps }));
const mutatedStreamArb: fc.Arbitrary<Stream> = fc.tuple(
  fc.oneof(
    { arbitrary: sessionArb.map((ps) => ps.map(encodeBroker).join("")), weight: 3 },
    { arbitrary: fc.constantFrom(...RECORDED), weight: 2 },
  ),
  fc.array(mutationArb, { minLength: 1, maxLength: 6 }),
).map(([b, m]) => ({ kind: "mutated", bytes: mutate(b, m) }));
const INTERESTING = [0x00, 0x01, 0x02, 0x20, 0x30, 0x32, 0x34, 0x36, 0x3b, 0x40, 0x50, 0x62, 0x70, 0x90, 0xb0, 0xd0, 0x7f, 0x80, 0xff, 0x61, 0x2f];
const randomStreamArb: fc.Arbitrary<Stream> = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.array(fc.constantFrom(...INTERESTING), { maxLength: 200 }).map((a) => Uint8Array.from(a)),
).map((u) => ({ kind: "random", bytes: toBin(u) }));

export const streamArb: fc.Arbitrary<Stream> = fc.oneof(validStreamArb, mutatedStreamArb, randomStreamArb);

/** How a stream is cut: at `cuts` (mode 0), into 1-byte pieces (1) or whole (2). */
export interface Split { mode: number; cuts: number[] }
export const splitArb: fc.Arbitrary<Split> = fc.record({
  mode: fc.constantFrom(0, 0, 0, 1, 2), cuts: fc.array(fc.nat(), { maxLength: 12 }),
});
export function chunks(bytes: string, sp: Split): string[] {
  if (sp.mode == 2 || !bytes.length) return [bytes];
  if (sp.mode == 1) return bytes.split("");
  const at = [...new Set(sp.cuts.map((c) => c % (bytes.length + 1)))].sort((x, y) => x - y);
  const out: string[] = [];
  let prev = 0;
  for (const c of at) { out.push(bytes.slice(prev, c)); prev = c; }
  out.push(bytes.slice(prev));
  return out; // empty pieces too: a push of "" must be harmless
}

export const maxPacketArb = fc.oneof(fc.constantFrom(16, 17, 24, 64, 128, 1024), fc.integer({ min: 16, max: 3000 }));

// ---------------------------------------------------------------------------------------------
// Figures

export interface FuzzStats {
  inputs: number;
  bytes: number;
  packets: number;          // packets decoded (target 1) or handled by the client (target 2)
  oversize: number;         // of which oversize
  protocolErrors: number;   // inputs ended by a ProtocolError (target 1) / protocol closes (target 2)
  uncaught: number;         // exceptions other than ProtocolError, or escaping the client
  hangs: number;            // inputs over HANG_MS
  violations: number;       // other property violations
  maxBuffer: number;        // largest Framer._pending/_head seen, bytes
  maxBufferLimit: number;   // the max_packet in force then
  maxBufferRatio: number;   // largest buffer / max_packet seen
  maxPending: number;       // the same for Framer._pending alone (an incomplete packet)
  maxPendingLimit: number;
  maxPendingRatio: number;
  reconnects: number;       // target 2
  writes: number;           // target 2: packets written by the client
  events: { [name: string]: number }; // target 2: client events, "error" split by code (coverage)
  failures: string[];       // first few failure descriptions
}
export function newStats(): FuzzStats {
  return {
    inputs: 0, bytes: 0, packets: 0, oversize: 0, protocolErrors: 0, uncaught: 0, hangs: 0, violations: 0,
    maxBuffer: 0, maxBufferLimit: 0, maxBufferRatio: 0, maxPending: 0, maxPendingLimit: 0, maxPendingRatio: 0, reconnects: 0, writes: 0, events: {}, failures: [],
  };
}
export function addStats(into: FuzzStats, s: FuzzStats) {
  for (const k of ["inputs", "bytes", "packets", "oversize", "protocolErrors", "uncaught", "hangs", "violations", "reconnects", "writes"] as const) into[k] += s[k];
  if (s.maxBufferRatio > into.maxBufferRatio) { into.maxBufferRatio = s.maxBufferRatio; into.maxBuffer = s.maxBuffer; into.maxBufferLimit = s.maxBufferLimit; }
  if (s.maxPendingRatio > into.maxPendingRatio) { into.maxPendingRatio = s.maxPendingRatio; into.maxPending = s.maxPending; into.maxPendingLimit = s.maxPendingLimit; }
  for (const k in s.events) into.events[k] = (into.events[k] || 0) + s.events[k];
  for (const f of s.failures) if (into.failures.length < 5) into.failures.push(f);
}
/** An input slower than this counts as a hang (a real infinite loop is caught by the fuzz tool's watchdog). */
export const HANG_MS = 2000;

function noteBuffer(st: FuzzStats, fr: Frames, max: number): string | undefined {
  // (the client sets _head when its first oversize packet comes)
  const pend = fr._pending.length, head = (fr._head || "").length, big = Math.max(pend, head);
  if (big / max > st.maxBufferRatio || (big / max == st.maxBufferRatio && big > st.maxBuffer)) {
    st.maxBufferRatio = big / max; st.maxBuffer = big; st.maxBufferLimit = max;
  }
  if (pend / max > st.maxPendingRatio) { st.maxPendingRatio = pend / max; st.maxPending = pend; st.maxPendingLimit = max; }
  if (pend > max) return `Framer._pending holds ${pend} bytes, max_packet ${max}`;
  if (head > max) return `Framer._head holds ${head} bytes, max_packet ${max}`;
  return undefined;
}

export function isProtocolError(e: unknown): boolean {
  return !!e && typeof e == "object" && (e as { code?: unknown }).code === "protocol" && typeof (e as { message?: unknown }).message == "string";
}
export function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message} @ ${(e.stack || "").split("\n").slice(1, 3).map((l) => l.trim()).join(" < ")}`;
  try { return JSON.stringify(e); } catch { return String(e); }
}

function record(st: FuzzStats, kind: "uncaught" | "hangs" | "violations", msg: string): string {
  st[kind]++;
  if (st.failures.length < 5) st.failures.push(msg);
  return msg;
}

// ---------------------------------------------------------------------------------------------
// Target 1: Framer + decode

export interface FramerInput { max: number; stream: Stream; split: Split }
export const framerInputArb: fc.Arbitrary<FramerInput> = fc.record({ max: maxPacketArb, stream: streamArb, split: splitArb });

export function runFramer(inp: FramerInput, st: FuzzStats): string | undefined {
  const t0 = performance.now(), bytes = inp.stream.bytes, max = inp.max;
  const got: { packet: Packet; oversize: boolean }[] = [];
  let violation: string | undefined, calls = 0, error: unknown, errored = false;
  const fr: Framer = new Framer(max, {
    _packet(first: number, body: string, oversize: boolean) {
      calls++;
      violation = violation || noteBuffer(st, fr, max);
      if (body.length > max) violation = violation || `sink got a body of ${body.length} bytes, max_packet ${max}`;
      const p = decode(first, body, oversize);
      got.push({ packet: p, oversize: oversize });
    },
  });
  st.inputs++;
  st.bytes += bytes.length;
  for (const c of chunks(bytes, inp.split)) {
    try {
      fr.push(c);
    } catch (e) {
      error = e;
      errored = true;
      break; // the client closes the connection here
    }
    violation = violation || noteBuffer(st, fr, max);
  }
  st.packets += got.length;
  for (const g of got) if (g.oversize) st.oversize++;
  if (errored) {
    if (!isProtocolError(error)) return record(st, "uncaught", `Framer/decode threw ${describe(error)}`);
    st.protocolErrors++;
  }
  if (violation) return record(st, "violations", violation);
  // Every packet takes at least 2 bytes: more sink calls than that means bytes were reprocessed.
  if (calls > bytes.length / 2 + 1) return record(st, "violations", `${calls} packets out of ${bytes.length} bytes`);
  if (performance.now() - t0 > HANG_MS) return record(st, "hangs", `input took ${Math.round(performance.now() - t0)} ms`);
  if (inp.stream.kind == "valid") {
    // The oracle: every packet as the layout says, up to the first one that must fail.
    const want: { packet: Packet; oversize: boolean }[] = [];
    let mustFail = false;
    for (const p of inp.stream.packets as BrokerPacket[]) {
      const e = expectDecoded(p, max);
      if (e == "error") { mustFail = true; break; }
      want.push(e);
    }
    if (mustFail != errored) {
      return record(st, "violations", mustFail ? "an oversize non-PUBLISH packet was accepted" : `valid stream rejected: ${describe(error)}`);
    }
    if (want.length != got.length) return record(st, "violations", `decoded ${got.length} packets, expected ${want.length}`);
    for (let i = 0; i < want.length; i++) {
      if (!sameDecoded(want[i], got[i])) {
        return record(st, "violations", `packet ${i}: decoded ${JSON.stringify(got[i])}, expected ${JSON.stringify(want[i])}`);
      }
    }
  }
  return undefined;
}

function sameDecoded(a: { packet: Packet; oversize: boolean }, b: { packet: Packet; oversize: boolean }): boolean {
  if (a.oversize != b.oversize) return false;
  const x = a.packet as unknown as Record<string, unknown>, y = b.packet as unknown as Record<string, unknown>;
  const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
  for (const k of keys) {
    if (k == "granted") { if (JSON.stringify(x[k]) !== JSON.stringify(y[k])) return false; } else if (x[k] !== y[k]) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Target 2: the Client on a fake platform

/** A manual clock with Espruino's timers: ids are the highest live id + 1 (so ids are reused). */
class Clock {
  t = 1_000_000;
  timers = new Map<number, { at: number; fn: () => void; period: number }>();
  staleCancels = 0;
  host: { at: number; fn: () => void }[] = [];   // the fake network's own events (not Espruino timers)
  badDelays: number[] = [];  // reconnect delays outside the backoff range
  constructor(private guard: (where: string, fn: () => void) => void) {}
  add(fn: () => void, ms: number, period: number): number {
    let id = 1;
    for (const k of this.timers.keys()) if (k >= id) id = k + 1;
    if (!period && !(ms >= 500 && ms <= 60000)) this.badDelays.push(ms);
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn: fn, period: period });
    return id;
  }
  cancel(id: unknown) {
    if (id === undefined) throw new Error("clearTimeout(undefined) not allowed"); // as Espruino
    if (!this.timers.delete(id as number)) this.staleCancels++;
  }
  count(periodic: boolean): number {
    let n = 0;
    for (const t of this.timers.values()) if ((t.period > 0) == periodic) n++;
    return n;
  }
  /** The due time of the pending one-shot timer (the client's reconnect), if any. */
  nextOneShot(): number | undefined {
    let at: number | undefined;
    for (const t of this.timers.values()) if (!t.period && (at === undefined || t.at < at)) at = t.at;
    return at;
  }
  advance(ms: number) {
    const end = this.t + ms;
    for (let guard = 0; guard < 100000; guard++) {
      let id = -1, due = Infinity, h = -1;
      for (const [k, t] of this.timers) if (t.at <= end && t.at < due) { due = t.at; id = k; }
      for (let j = 0; j < this.host.length; j++) if (this.host[j].at <= end && this.host[j].at < due) { due = this.host[j].at; h = j; }
      if (h >= 0) {
        const e = this.host.splice(h, 1)[0];
        this.t = Math.max(this.t, e.at);
        e.fn();
        continue;
      }
      if (id < 0) break;
      const t = this.timers.get(id)!;
      this.t = Math.max(this.t, t.at);
      if (t.period) t.at += t.period; else this.timers.delete(id);
      this.guard(t.period ? "keep-alive timer" : "reconnect timer", t.fn);
    }
    this.t = Math.max(this.t, end);
  }
}

class FakeSocket implements Socket {
  handlers: { [ev: string]: (arg?: any) => void } = {};
  ended = false;
  opened = false;
  written = 0;            // packets written
  lastWrite = 0;          // clock time of the last write
  lastPacket = 0;         // clock time it was opened or last delivered a whole packet
  upAt = 0;               // clock time the client was first seen connected on it
  head = "";              // the first bytes fed to it, until its first packet (CONNACK) is complete
  sp: boolean | undefined; // session present flag of that CONNACK
  parser = mqttPacket.parser({ protocolVersion: 4 });
  got: any[] = [];
  parseError: Error | undefined;
  /** Requests from the client still to be answered by `respond`. */
  owed: string[] = [];
  /**
   * The reference framing of what was fed to it (a Framer of its own, the generic path): the packets of
   * the current chunk, in order, which the client must take one by one, each either through `_packet`
   * or, for a plain QoS 0 PUBLISH, unpacked in its data handler (the fast path, seen as a "message"
   * event outside `_packet`).
   */
  ref: Framer;
  refPackets: { first: number; body: string; oversize: boolean }[] = [];
  onOpen: () => void;
  constructor(public rig: ClientRig, onOpen: (this: Socket) => void) {
    // Espruino calls socket listeners with `this` set to the socket.
    this.onOpen = onOpen.bind(this);
    this.ref = new Framer(rig.opts.max_packet, { _packet: (first, body, oversize) => { this.refPackets.push({ first, body, oversize }); } });
    this.parser.on("packet", (p) => this.got.push(p));
    this.parser.on("error", (e) => { this.parseError = this.parseError || e; });
  }
  write(d: string) { this.rig.onWrite(this, d); return true; }
  end() { this.ended = true; }
  on(ev: string, h: (this: Socket, arg?: any) => void) { this.handlers[ev] = h.bind(this); }
}

export type HandlerMode = "none" | "noop" | "throw" | "publish" | "disconnect" | "reconnect" | "unsubscribe";
export interface SubSpec { filter: string; qos: number; handler: HandlerMode }
export type Action =
  | { t: "tick"; ms: number }
  | { t: "close" } | { t: "error" } | { t: "drain" } | { t: "stale" } | { t: "refuse" }
  | { t: "connack"; sp: boolean }
  | { t: "respond" }
  | { t: "pub"; topic: string; qos: number; payload: string; retain: boolean }
  | { t: "burst"; n: number; qos: number }
  | { t: "sub"; sub: SubSpec } | { t: "unsub"; filter: string }
  | { t: "disconnect" } | { t: "connect" };
export interface ClientOpts {
  keep_alive: number; clean_session: boolean; inflight: number; queue: number; max_packet: number;
  write_buffer: number; reconnect: boolean; protocol_level: number; will: boolean;
  /** A "publish" listener on the client (the client builds that event's packet only for listeners and handlers). */
  listen?: boolean;
}
export interface ClientInput { opts: ClientOpts; subs: SubSpec[]; stream: Stream; split: Split; actions: { at: number; a: Action }[] }

const subSpecArb: fc.Arbitrary<SubSpec> = fc.record({
  filter: filterArb, qos: fc.constantFrom(0, 1, 2),
  handler: fc.constantFrom("none", "noop", "noop", "throw", "publish", "disconnect", "reconnect", "unsubscribe") as fc.Arbitrary<HandlerMode>,
});
export const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { arbitrary: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 200000 })).map((ms) => ({ t: "tick" as const, ms: ms })), weight: 6 },
  { arbitrary: fc.constantFrom<Action>({ t: "close" }, { t: "error" }, { t: "drain" }, { t: "stale" }, { t: "refuse" }, { t: "respond" }, { t: "respond" }, { t: "disconnect" }, { t: "connect" }, { t: "connect" }), weight: 5 },
  { arbitrary: fc.boolean().map((sp) => ({ t: "connack" as const, sp: sp })), weight: 3 },
  {
    arbitrary: fc.record({ topic: fc.oneof({ arbitrary: topicTextArb, weight: 9 }, { arbitrary: fc.constantFrom("a/+", "", "#"), weight: 1 }), qos: fc.constantFrom(0, 1, 2, 2), payload: payloadArb, retain: fc.boolean() })
      .map((r) => ({ t: "pub" as const, ...r })), weight: 6,
  },
  { arbitrary: fc.record({ n: fc.integer({ min: 1, max: 20 }), qos: fc.constantFrom(0, 1, 2) }).map((r) => ({ t: "burst" as const, ...r })), weight: 2 },
  { arbitrary: subSpecArb.map((s) => ({ t: "sub" as const, sub: s })), weight: 2 },
  { arbitrary: filterArb.map((f) => ({ t: "unsub" as const, filter: f })), weight: 1 },
);
export const clientOptsArb: fc.Arbitrary<ClientOpts> = fc.record({
  keep_alive: fc.oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 120 })),
  clean_session: fc.boolean(), inflight: fc.integer({ min: 1, max: 10 }), queue: fc.integer({ min: 0, max: 10 }),
  max_packet: maxPacketArb, write_buffer: fc.oneof(fc.constant(2048), fc.integer({ min: 64, max: 4096 })),
  reconnect: fc.oneof({ arbitrary: fc.constant(true), weight: 5 }, { arbitrary: fc.constant(false), weight: 1 }),
  protocol_level: fc.constantFrom(4, 4, 3), will: fc.boolean(), listen: fc.boolean(),
});
export const clientInputArb: fc.Arbitrary<ClientInput> = fc.record({
  opts: clientOptsArb,
  subs: fc.array(subSpecArb, { maxLength: 3 }),
  stream: streamArb,
  split: splitArb,
  actions: fc.array(fc.record({ at: fc.nat(), a: actionArb }), { maxLength: 14 }),
});

const USER = "fuzz-user-7c1", PASSWORD = "fuzz-pw-93b\x00\xff";
const WITH_ID = new Set(["puback", "pubrec", "pubrel", "pubcomp", "subscribe", "unsubscribe"]);

/** A Client with a fake platform, driven step by step; the first broken property is kept in `failure`. */
export class ClientRig {
  failure: string | undefined;
  failKind: "uncaught" | "violations" = "violations";
  clock: Clock;
  sockets: FakeSocket[] = [];
  client: Client;
  refuseNext = false;
  deliveries = 0;              // "message" events so far (one per message delivered)
  inPacket = 0;                // inside the client's _packet (else a "message" comes from its fast path)
  protocolCloses = 0;          // "error" events with code "protocol"
  rx = new Set<number>();      // the model: inbound QoS 2 ids acknowledged with PUBREC and not yet released
  packets = 0;
  oversize = 0;
  writes = 0;
  opened = 0;
  held = new Set<number>();    // ids of accepted QoS 1/2 messages the client holds (_out, _q)
  sentPub = new Set<number>(); // ids of QoS 1/2 PUBLISH packets written and not yet acknowledged
  ups = 0;                     // "connected" events
  downs = 0;                   // "disconnected" events

  constructor(public opts: ClientOpts, public st: FuzzStats) {
    this.clock = new Clock((where, fn) => this.guard(where, fn));
    const rig = this;
    const platform: Platform = {
      open(host: string, port: number, tls: unknown, onOpen: () => void): Socket {
        if (rig.refuseNext) { rig.refuseNext = false; throw { message: "ECONNREFUSED" }; }
        const s = new FakeSocket(rig, onOpen);
        s.lastPacket = s.lastWrite = rig.clock.t;
        rig.sockets.push(s);
        // The TCP connect completes 20 ms later (or earlier, when the rig feeds it bytes first).
        rig.clock.host.push({ at: rig.clock.t + 20, fn: () => rig.connect(s) });
        rig.opened++;
        return s;
      },
      after: (fn, ms, a) => this.clock.add(() => fn(a), ms, 0),
      every: (fn, ms, a) => this.clock.add(() => fn(a), ms, Math.max(1, ms)),
      cancel: (id) => this.clock.cancel(id),
      now: () => this.clock.t,
      random: () => 0.5,
    };
    const o: Options = {
      host: "broker", client_id: "fuzz", keep_alive: opts.keep_alive, clean_session: opts.clean_session,
      inflight: opts.inflight, queue: opts.queue, max_packet: opts.max_packet, write_buffer: opts.write_buffer,
      reconnect: opts.reconnect, protocol_level: opts.protocol_level,
      will: opts.will ? { topic: "dev/status", message: "gone", qos: 1, retain: true } : undefined,
      username: opts.will ? USER : undefined, password: opts.will ? PASSWORD : undefined,
    };
    const c = this.client = new Client(platform, o);
    // The rig replaces emit(); a listener is seen where Espruino keeps it (see onData in client.ts).
    if (opts.listen) (c as unknown as { [k: string]: unknown })["#onpublish"] = [() => undefined];
    const events = st.events;
    c.emit = (ev: string, a?: any, b?: any) => {
      if (ev == "message") {
        this.deliveries++;
        if (!this.inPacket) this.fast(a, b);
      }
      const name = ev == "error" ? "error:" + (a as { code?: string }).code : ev;
      events[name] = (events[name] || 0) + 1;
      if (name == "error:protocol") this.protocolCloses++;
      if (ev == "connected") this.ups++;
      if (ev == "disconnected") this.downs++;
      // The documented event arguments (CONTRACT.md, issue 2).
      const str = (x: unknown) => typeof x == "string";
      const ok = ev == "error" ? a instanceof Error && str((a as { code?: unknown }).code) && str(a.message)
        : ev == "publish" ? a && str(a.topic) && str(a.message) && [0, 1, 2].includes(a.qos) && typeof a.retain == "boolean" && typeof a.dup == "boolean"
        : ev == "message" ? str(a) && str(b)
        : ev == "subscribed" ? str(a) && [0, 1, 2].includes(b)
        : ev == "subscribe_failed" ? str(a) && typeof b == "number" && b >= 0x80 && b <= 0xff
        : ev == "unsubscribed" ? str(a)
        : ev == "connected" ? typeof a == "boolean"
        : ev == "disconnected" ? str(a)
        : ev == "drain";
      if (!ok) this.fail("violations", `event ${ev} with arguments ${describe(a)}, ${describe(b)}`);
      if (ev == "error" && (a.message.includes(USER) || a.message.includes(PASSWORD))) this.fail("violations", `credentials in an error: ${a.message}`);
    };
    // Watch every inbound packet the client handles: exceptions must be ProtocolErrors, and the
    // QoS 2 model follows what the client accepted.
    const orig = Client.prototype._packet;
    c._packet = function (this: Client, first: number, body: string, oversize: boolean) {
      let p: Packet | undefined;
      try { p = decode(first, body, oversize); } catch { p = undefined; }
      const before = rig.deliveries, fr = this._sock ? this : undefined, had = rig.heldIds(), s = rig.current();
      rig.packets++;
      if (s) s.lastPacket = rig.clock.t;
      if (oversize) rig.oversize++;
      if (fr) rig.buffers(fr);
      const r = s && s.refPackets.shift();
      if (s && !(r && r.first == first && r.body == body && r.oversize == oversize)) {
        rig.fail("violations", `client took ${hex(chr(first) + body)}${oversize ? " (oversize)" : ""}, the reference framing ${r ? hex(chr(r.first) + r.body) : "no packet"}`);
      }
      rig.inPacket++;
      try {
        orig.call(this, first, body, oversize);
      } catch (e) {
        if (!isProtocolError(e)) rig.fail("uncaught", `client._packet threw ${describe(e)} (the client reports it as a protocol error)`);
        throw e;
      } finally {
        rig.inPacket--;
      }
      if (!p) return rig.fail("violations", `client accepted a packet decode rejects: ${hex(chr(first) + body)}`);
      rig.model(p, oversize, rig.deliveries - before);
      // An accepted QoS 1/2 message leaves the client only with its PUBACK or PUBCOMP.
      const now = rig.heldIds();
      for (const id of had) {
        if (!now.has(id) && !((p.type == 4 || p.type == 7) && p.id == id)) rig.fail("violations", `QoS 1/2 message id ${id} dropped on ${p.type == 3 ? "PUBLISH" : "packet type " + p.type}`);
      }
      rig.held = now;
      rig.pruneSent();
    };
    const publish = Client.prototype.publish;
    c.publish = function (this: Client, topic: string, message: unknown, o?: { qos?: number; retain?: boolean }) {
      const ok = publish.call(this, topic, message, o);
      if (ok && o && o.qos) {
        if (!rig.heldIds().has(this._id)) rig.fail("violations", `publish() accepted a QoS ${o.qos} message the client does not hold`);
        rig.held.add(this._id);
      }
      return ok;
    };
  }

  /**
   * A message the client unpacked in its data handler: it must be the next packet of the reference
   * framing, a well-formed QoS 0 PUBLISH (no DUP) within max_packet, delivered once with its topic and
   * payload, on a connection past CONNACK.
   */
  fast(topic: unknown, message: unknown) {
    const s = this.current(), r = s && s.refPackets.shift();
    this.packets++;
    if (!s || !r) return this.fail("violations", `message ${describe(topic)} delivered outside _packet with no packet left in the chunk`);
    s.lastPacket = this.clock.t;
    this.buffers(this.client);
    let p: Packet | undefined;
    try { p = decode(r.first, r.body, r.oversize); } catch { p = undefined; }
    if (!p || r.first != 0x30 || r.oversize || p.topic !== topic || p.message !== message || !this.client._up) {
      return this.fail("violations", `client delivered ${describe(topic)}/${describe(message)} from ${hex(chr(r.first) + r.body)}${r.oversize ? " (oversize)" : ""} without the full checks`);
    }
    this.model(p, false, 1);
  }

  fail(kind: "uncaught" | "violations", msg: string) {
    if (!this.failure) { this.failure = msg; this.failKind = kind; }
  }
  guard(where: string, fn: () => void) {
    try { fn(); } catch (e) { this.fail("uncaught", `exception escaped from ${where}: ${describe(e)}`); }
  }
  buffers(fr: Frames) {
    const v = noteBuffer(this.st, fr, this.opts.max_packet);
    if (v) this.fail("violations", v);
  }

  /**
   * Inbound delivery: each PUBLISH once, except a QoS 2 one whose id was acknowledged with PUBREC and
   * not yet released by PUBREL: that is a resend, never delivered again [MQTT-4.3.3-2]. Oversize
   * messages are dropped (and counted), never delivered.
   */
  model(p: Packet, oversize: boolean, delivered: number) {
    if (p.type == 2 && p.returnCode == 0 && !p.sessionPresent) this.rx.clear();
    if (p.type == 3) {
      const resend = p.qos == 2 && this.rx.has(p.id), want = oversize || resend ? 0 : 1;
      if (delivered != want) {
        this.fail("violations", resend ? `QoS 2 message id ${p.id} delivered twice before its PUBREL`
          : `${oversize ? "oversize " : ""}QoS ${p.qos} message (id ${p.id}) delivered ${delivered} times`);
      }
      if (p.qos == 2 && p.id) this.rx.add(p.id);
    }
    if (p.type == 6) this.rx.delete(p.id);
  }

  /** A PUBLISH leaves _out only when acknowledged (PUBACK) or released (PUBREC): then its id is new again. */
  pruneSent() {
    if (!this.sentPub.size) return;
    const pubs = new Set<number>();
    for (const p of this.client._out) if (p.charCodeAt(0) >> 4 == 3) pubs.add(idOf(p));
    for (const id of this.sentPub) if (!pubs.has(id)) this.sentPub.delete(id);
  }

  /** Packet ids of the QoS 1/2 PUBLISH and PUBREL packets the client holds. */
  heldIds(): Set<number> {
    const c = this.client, ids = new Set<number>();
    for (const p of c._out) ids.add(idOf(p));
    for (const p of c._q) if (p.charCodeAt(0) & 6) ids.add(idOf(p));
    return ids;
  }

  current(): FakeSocket | undefined {
    return this.client._sock as FakeSocket | undefined;
  }

  /** What the client writes: one whole, well-formed packet per write, on a live socket, CONNECT first. */
  onWrite(s: FakeSocket, d: string) {
    this.writes++;
    s.lastWrite = this.clock.t;
    if (s.ended) return this.fail("violations", `write after end(): ${hex(d)}`);
    if (!s.opened) return this.fail("violations", `write before the socket connected: ${hex(d)}`);
    const n = s.got.length, rest = s.parser.parse(Buffer.from(d, "latin1"));
    if (s.parseError) return this.fail("violations", `mqtt-packet cannot parse a write (${s.parseError.message}): ${hex(d)}`);
    if (rest !== 0 || s.got.length != n + 1) return this.fail("violations", `a write is not exactly one packet: ${hex(d)}`);
    const p = s.got[n];
    s.got.length = 0; // keep memory flat
    if (s.written++ == 0 && p.cmd != "connect") return this.fail("violations", `first packet on a connection is ${p.cmd}`);
    if (s.written > 1 && p.cmd == "connect") return this.fail("violations", "second CONNECT on a connection");
    if (p.cmd != "connect" && !(this.client._up && this.client._sock === s)) {
      return this.fail("violations", `wrote ${p.cmd} before CONNACK on this connection: ${hex(d)}`);
    }
    const idNeeded = WITH_ID.has(p.cmd) || (p.cmd == "publish" && p.qos > 0);
    if (idNeeded && !(Number.isInteger(p.messageId) && p.messageId >= 1 && p.messageId <= 65535)) {
      return this.fail("violations", `${p.cmd} with packet id ${p.messageId}`);
    }
    if (p.cmd == "publish" && /[+#]/.test(p.topic)) return this.fail("violations", `PUBLISH to a topic with a wildcard: ${p.topic}`);
    if (p.cmd == "publish") {
      // DUP: 0 at QoS 0 [MQTT-3.3.1-2] and on a first send, 1 on a resend into the same session
      // [MQTT-3.3.1-1]; into a new session (CONNACK session present 0) a message goes as a first delivery.
      if (!p.qos && p.dup) return this.fail("violations", "QoS 0 PUBLISH with DUP set");
      if (p.qos) {
        const again = this.sentPub.has(p.messageId) && s.sp !== false;
        if (again != p.dup) return this.fail("violations", `${again ? "resent" : "first"} PUBLISH (id ${p.messageId}) with DUP ${p.dup ? 1 : 0}`);
        this.sentPub.add(p.messageId);
      }
    }
    if (p.cmd == "subscribe" || p.cmd == "unsubscribe") {
      if (!p.subscriptions && !p.unsubscriptions) return this.fail("violations", `${p.cmd} without filters`);
    }
    // What a correct broker owes for it.
    switch (p.cmd) {
      case "publish": if (p.qos) s.owed.push(encodeBroker({ type: p.qos == 1 ? 4 : 5, id: p.messageId })); break;
      case "pubrel": s.owed.push(encodeBroker({ type: 7, id: p.messageId })); break;
      case "subscribe": s.owed.push(encodeBroker({ type: 9, id: p.messageId, granted: p.subscriptions.map((x: { qos: number }) => x.qos) })); break;
      case "unsubscribe": s.owed.push(encodeBroker({ type: 11, id: p.messageId })); break;
      case "pingreq": s.owed.push(encodeBroker({ type: 13, id: 0 })); break;
    }
  }

  /** Make the current socket connect (Espruino calls the connect callback before any data). */
  ready(): FakeSocket | undefined {
    let s = this.current();
    if (!s && this.client._want && this.client._timer !== undefined) {
      // Wait for the pending reconnect.
      const at = this.clock.nextOneShot();
      if (at !== undefined) this.clock.advance(at - this.clock.t);
      s = this.current();
    }
    if (s) this.connect(s);
    return this.current();
  }

  connect(s: FakeSocket) {
    if (s.opened || s.ended) return;
    s.opened = true;
    s.lastPacket = s.lastWrite = this.clock.t;
    this.guard("connect callback", s.onOpen);
    if (this.current() === s) this.fire(s, "drain"); // Espruino reports "drain" right after connecting
  }

  fire(s: FakeSocket, ev: string, arg?: unknown) {
    const h = s.handlers[ev];
    if (h) this.guard(`socket '${ev}' handler`, () => h(arg));
  }

  data(d: string) {
    const s = this.ready();
    if (!s) return;
    if (s.sp === undefined) {
      // The session present flag decides how the client resends (DUP only into the same session).
      s.head += d;
      if (s.head.length >= 4) s.sp = s.head.charCodeAt(0) == 0x20 && (s.head.charCodeAt(2) & 1) == 1;
    }
    const before = this.protocolCloses;
    // The reference framing of this chunk; what the client does not take (it left the connection) is dropped.
    s.refPackets = [];
    try { s.ref.push(d); } catch { /* a malformed length: the client must close there too */ }
    this.fire(s, "data", d);
    if (this.protocolCloses > before) {
      if (!s.ended) this.fail("violations", "protocol error, but the socket was not closed");
      if (this.client._sock === s) this.fail("violations", "protocol error, but the client kept the connection");
    }
  }

  handler(mode: HandlerMode) {
    if (mode == "none") return undefined;
    const c = this.client;
    return (topic: string) => {
      switch (mode) {
        case "throw": throw new Error("handler failed");
        case "publish": c.publish("echo/" + (topic.length % 7), "x", { qos: topic.length % 3 }); break;
        case "disconnect": c.disconnect(); break;
        case "reconnect": c.disconnect(); c.connect(); break;
        case "unsubscribe": c.unsubscribe("#"); break;
      }
    };
  }

  subscribe(sub: SubSpec) {
    const h = this.handler(sub.handler);
    this.guard("subscribe()", () => { h ? this.client.subscribe(sub.filter, { qos: sub.qos }, h) : this.client.subscribe(sub.filter, { qos: sub.qos }); });
  }

  act(a: Action) {
    const c = this.client;
    switch (a.t) {
      case "tick": this.clock.advance(a.ms); break;
      case "close": { const s = this.current(); if (s) this.fire(s, "close"); break; }
      case "error": { const s = this.current(); if (s) this.fire(s, "error", { message: "ECONNRESET" }); break; }
      case "drain": { const s = this.ready(); if (s) this.fire(s, "drain"); break; }
      case "stale": {
        // Late events from a connection the client already left must change nothing.
        const old = this.sockets.filter((x) => x !== this.current()).pop();
        if (old) {
          const w = this.writes;
          this.fire(old, "data", encodeBroker({ type: 2, id: 0, rc: 0 }) + encodeBroker({ type: 3, id: 1, qos: 1, topic: "a", payload: "x" }));
          this.fire(old, "drain");
          this.fire(old, "error", { message: "late" });
          this.fire(old, "close");
          if (this.writes != w) this.fail("violations", "the client wrote after an event on a connection it had left");
        }
        break;
      }
      case "refuse": this.refuseNext = true; break;
      case "connack": this.data(encodeBroker({ type: 2, id: 0, rc: 0, sp: a.sp })); break;
      case "respond": {
        const s = this.ready();
        if (s && s.owed.length) { const d = s.owed.join(""); s.owed = []; this.data(d); }
        break;
      }
      case "pub": this.guard("publish()", () => { c.publish(a.topic, a.payload, { qos: a.qos, retain: a.retain }); }); break;
      case "burst": // publish faster than the socket drains, then let it drain
        // QoS 0 as most sensors publish: no options, one topic (publish()'s own path once the topic is known).
        this.guard("publish()", () => {
          for (let i = 0; i < a.n; i++) a.qos ? c.publish("burst/" + i, "0123456789abcdef0123456789abcdef", { qos: a.qos }) : c.publish("burst", "0123456789abcdef0123456789abcdef");
        });
        this.act({ t: "drain" });
        break;
      case "sub": this.subscribe(a.sub); break;
      case "unsub": this.guard("unsubscribe()", () => { c.unsubscribe(a.filter); }); break;
      case "disconnect": this.guard("disconnect()", () => { c.disconnect(); }); break;
      case "connect": this.guard("connect()", () => { c.connect(); }); break;
    }
  }

  /** Properties that hold between any two steps. */
  check() {
    const c = this.client, o = this.opts, live = this.current();
    if (this.clock.count(false) > 1) this.fail("violations", `${this.clock.count(false)} reconnect timers pending`);
    if (this.clock.count(true) != (live ? 1 : 0)) this.fail("violations", `${this.clock.count(true)} keep-alive timers with ${live ? "a" : "no"} connection`);
    if (this.clock.staleCancels) this.fail("violations", "cancel() of a timer id that is not live (Espruino reuses ids)");
    for (const s of this.sockets) if (s !== live && !s.ended) this.fail("violations", "a connection the client left is still open (end() not called)");
    if (!live && c._want && c._retry && c._timer === undefined) this.fail("violations", "no connection and no reconnect scheduled");
    if (c._out.length > o.inflight) this.fail("violations", `${c._out.length} messages in flight, inflight ${o.inflight}`);
    if (c._q.length > o.queue) this.fail("violations", `${c._q.length} messages queued, queue ${o.queue}`);
    const ids: number[] = [];
    for (const p of c._out) ids.push(idOf(p));
    for (const p of c._ctl) ids.push(idOf(p));
    for (const p of c._q) if (p.charCodeAt(0) & 6) ids.push(idOf(p));
    for (const id of ids) if (!(id >= 1 && id <= 65535)) this.fail("violations", `packet id ${id} in use`);
    if (new Set(ids).size != ids.length) this.fail("violations", `packet ids in use twice: ${ids.join(",")}`);
    const rx = c._rx || []; // made by the "ctl" part at the first inbound QoS 2 message
    if (new Set(rx).size != rx.length) this.fail("violations", `inbound QoS 2 ids listed twice: ${rx.join(",")}`);
    if (c._sock) this.buffers(c);
    this.pruneSent();
    if (this.ups - this.downs != (c._up ? 1 : 0)) this.fail("violations", `${this.ups} "connected" and ${this.downs} "disconnected" events, connected: ${c._up}`);
    if (this.clock.badDelays.length) this.fail("violations", `reconnect delay ${this.clock.badDelays[0]} ms is outside 0.5..60 s`);
    const held = this.heldIds();
    for (const id of this.held) if (!held.has(id)) this.fail("violations", `accepted QoS 1/2 message id ${id} vanished without PUBACK/PUBCOMP`);
    this.held = held;
    if (live && live.opened) {
      const ka = o.keep_alive * 1000, step = Math.min(ka / 10, 5000), t = this.clock.t;
      // PINGREQ before keep_alive passes without a write [MQTT-3.1.2-23] (counted from the CONNACK:
      // nothing but CONNECT is sent before it).
      if (c._up && !live.upAt) live.upAt = t;
      const quiet = t - Math.max(live.lastWrite, live.upAt);
      if (c._up && quiet > ka) this.fail("violations", `connected, nothing written for ${quiet} ms, keep_alive ${ka} ms`);
      // A silent broker is given up: PINGREQ after at most 2 periods, then half a period for the
      // answer; before CONNACK the client waits max(ka/2, 10 s) from opening the socket.
      if (t - live.lastPacket > 2.5 * ka + 2 * step + 10000) this.fail("violations", `connection kept ${t - live.lastPacket} ms without a packet from the broker, keep_alive ${ka} ms`);
    }
  }

  run(inp: ClientInput) {
    for (const s of inp.subs) this.subscribe(s);
    this.guard("connect()", () => { this.client.connect(); });
    this.check();
    const parts = chunks(inp.stream.bytes, inp.split);
    const acts: Action[][] = parts.map(() => []);
    acts.push([]);
    for (const x of inp.actions) acts[x.at % acts.length].push(x.a);
    for (let i = 0; i <= parts.length && !this.failure; i++) {
      for (const a of acts[i]) { this.act(a); this.check(); if (this.failure) break; }
      if (i < parts.length && !this.failure) { this.data(parts[i]); this.check(); }
    }
  }
}

export function runClient(inp: ClientInput, st: FuzzStats): string | undefined {
  const t0 = performance.now();
  const rig = new ClientRig(inp.opts, st);
  st.inputs++;
  st.bytes += inp.stream.bytes.length;
  rig.run(inp);
  st.packets += rig.packets;
  st.oversize += rig.oversize;
  st.protocolErrors += rig.protocolCloses;
  st.reconnects += Math.max(0, rig.opened - 1);
  st.writes += rig.writes;
  if (rig.failure) return record(st, rig.failKind, rig.failure);
  if (performance.now() - t0 > HANG_MS) return record(st, "hangs", `input took ${Math.round(performance.now() - t0)} ms`);
  return undefined;
}

/** JSON of an input, ASCII only (every other char as \uXXXX), to paste into a regression test. */
export function show(inp: unknown): string {
  return JSON.stringify(inp).replace(/[\u007f-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}
