// The MQTT 3.1.1 session: one connection at a time, CONNECT/CONNACK, keep-alive,
// reconnect with backoff, packet ids, the bounded inflight and offline tables,
// QoS 1/2 handshakes both ways, subscriptions and local dispatch.
//
// Sockets and timers come from an injected Platform, so this file uses no
// board globals. Events go through Espruino's built-in `emit` (queued: the
// handlers run after the current code), which every object has on the board
// and the host simulator provides.
import {
  CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBACK,
  PINGREQ_PACKET, DISCONNECT_PACKET, Packet,
  decode, encodeAck, encodeConnect, encodePublish, encodeSubscribe, encodeUnsubscribe,
  filtersOf, idOf, typeOf, withDup,
} from "../protocol/codec.js";
import { Framer } from "../protocol/framer.js";
import { topicError, topicMatches } from "../protocol/topic.js";
import { fromUtf8, toUtf8 } from "../protocol/utf8.js";

/** What a socket from the platform offers (Espruino's net/tls socket). */
export interface Socket {
  write(data: string): unknown;
  end(): void;
  on(event: string, handler: (arg?: any) => void): void;
}

/** The platform seam: everything the session needs from the board. */
export interface Platform {
  /** Open a TCP (tls falsy) or TLS connection; may throw when TLS is unavailable. */
  open(host: string, port: number, tls: unknown, onOpen: () => void): Socket;
  after(fn: () => void, ms: number): unknown;
  every(fn: () => void, ms: number): unknown;
  cancel(timer: unknown): void;
  now(): number; // milliseconds
  random(): number;
}

export interface Will { topic: string; message?: unknown; qos?: number; retain?: boolean }
export interface Options {
  host: string;
  port?: number;
  client_id?: string;
  keep_alive?: number;
  clean_session?: boolean;
  username?: string;
  password?: unknown;
  protocol_name?: string;
  protocol_level?: number;
  will?: Will;
  reconnect?: boolean;
  inflight?: number;
  queue?: number;
  max_packet?: number;
  tls?: unknown;
}
export type Handler = (topic: string, message: string, packet: Packet) => void;

/** An Error with a stable `code` for programs to test. */
export function mqttError(code: string, message: string): Error & { code: string } {
  const e = new Error(message) as Error & { code: string };
  e.code = code;
  return e;
}

// CONNACK return codes 1..5 [MQTT-3.2.3], as error codes and explanations.
const REFUSED = ["", "bad_protocol", "id_rejected", "server_unavailable", "bad_credentials", "not_authorized"];
const REFUSED_TEXT = ["", "unacceptable protocol version", "client identifier rejected", "server unavailable",
  "bad user name or password", "not authorized"];

const MAX_BACKOFF = 60000;
/** A connection that lasted this long resets the backoff; shorter ones (kicked, refused) keep growing it. */
const STABLE = 30000;

function fail(msg: string): never {
  throw mqttError("option", msg);
}
function intOption(v: unknown, dflt: number, min: number, max: number, name: string): number {
  const n = v == undefined ? dflt : v as number;
  if (typeof n != "number" || n % 1 || n < min || n > max) fail(name + " must be an integer from " + min + " to " + max);
  return n;
}
/** An MQTT string field: UTF-8 bytes, no U+0000 [MQTT-1.5.3-2]. */
function mqttString(s: unknown, name: string): string {
  const b = typeof s == "string" && !/\0/.test(s) ? toUtf8(s) : undefined;
  return b == undefined ? fail(name + " must be text without U+0000") : b;
}

/** A message as bytes: binary strings as they are, text beyond Latin-1 as UTF-8, byte arrays by value. */
export function toBytes(m: unknown): string {
  if (typeof m == "string") return /[^\x00-\xff]/.test(m) ? toUtf8(m) || "" : m;
  if (m == undefined) return "";
  if (m instanceof ArrayBuffer) m = new Uint8Array(m);
  if (typeof m == "object" && typeof (m as ArrayLike<number>).length == "number") {
    // In slices, as apply() has an argument limit; typed arrays slice as subarray views.
    const a = m as { length: number; subarray?: Function; slice: Function };
    let s = "";
    for (let i = 0; i < a.length; i += 1024) {
      s += String.fromCharCode.apply(null, (a.subarray || a.slice).call(a, i, i + 1024));
    }
    return s;
  }
  return String(m);
}

export class Client {
  declare emit: (event: string, a?: unknown, b?: unknown) => void;
  _p: Platform;
  _host: string;
  _port: number;
  _tls: unknown;
  _connect: string;          // the encoded CONNECT, built once
  _ka: number;               // keep-alive in ms
  _retry: boolean;
  _maxIn: number;
  _maxQ: number;
  _fr: Framer;
  _sock: Socket | null = null;
  _up = false;               // CONNACK accepted on the current socket
  _want = false;             // the user asked to be connected
  _out: string[] = [];       // sent, not yet acknowledged: QoS 1/2 PUBLISH or PUBREL, oldest first
  _q: string[] = [];         // accepted QoS 1/2 PUBLISH waiting for room in _out
  _ctl: string[] = [];       // SUBSCRIBE/UNSUBSCRIBE waiting for SUBACK/UNSUBACK
  _rx: number[] = [];        // inbound QoS 2 ids acknowledged with PUBREC, not yet released
  _subs: { [filter: string]: [number, Handler | undefined] } = {};
  _id = 0;                   // last packet id handed out
  _n = [0, 0, 0, 0, 0];      // sent, received, dropped, oversize, reconnects
  _tries = 0;                // failed or short-lived connections in a row (drives the backoff)
  _tick: unknown;            // keep-alive check while a socket is open
  _timer: unknown;           // pending reconnect
  _sent = 0;                 // when we last wrote a packet
  _heard = 0;                // when we last received one
  _wait = 0;                 // when we sent CONNECT or PINGREQ still unanswered (0: none)
  _since = 0;                // when the current connection was accepted

  constructor(platform: Platform, o: Options) {
    this._p = platform;
    this._host = o.host;
    this._port = intOption(o.port, 1883, 1, 65535, "port");
    this._tls = o.tls;
    const ka = intOption(o.keep_alive, 60, 1, 65535, "keep_alive (0 would switch keep-alive off)");
    this._ka = ka * 1000;
    const clean = o.clean_session !== false;
    const id = mqttString(o.client_id == undefined ? "" : o.client_id, "client_id");
    // A broker may only assign an id to a clean session [MQTT-3.1.3-7].
    if (!id && !clean) fail("clean_session:false needs a client_id");
    const name = o.protocol_name || (o.protocol_level == 3 ? "MQIsdp" : "MQTT");
    const w = o.will;
    if (w) {
      const why = topicError(w.topic, false);
      if (why) fail("will.topic: " + why);
    }
    // A password without a user name cannot be sent [MQTT-3.1.2-22].
    if (o.password != undefined && o.username == undefined) fail("password needs a username");
    this._connect = encodeConnect({
      protocolName: name,
      protocolLevel: intOption(o.protocol_level, name == "MQIsdp" ? 3 : 4, 3, 4, "protocol_level"),
      clientId: id,
      keepAlive: ka,
      clean: clean,
      will: w ? {
        topic: toUtf8(w.topic) as string, message: toBytes(w.message),
        qos: intOption(w.qos, 0, 0, 2, "will.qos"), retain: !!w.retain,
      } : undefined,
      username: o.username == undefined ? undefined : mqttString(o.username, "username"),
      password: o.password == undefined ? undefined : toBytes(o.password),
    });
    this._retry = o.reconnect !== false;
    this._maxIn = intOption(o.inflight, 8, 1, 65535, "inflight");
    this._maxQ = intOption(o.queue, 8, 0, 65535, "queue");
    this._fr = new Framer(intOption(o.max_packet, 1024, 16, 268435460, "max_packet"),
      (first, body, oversize) => this._packet(first, body, oversize));
  }

  /** Connect now (also cancels a pending backoff); reconnects on loss unless `reconnect: false`. */
  connect(): this {
    this._want = true;
    this._p.cancel(this._timer);
    this._timer = undefined;
    if (!this._sock) this._open();
    return this;
  }

  /** Send DISCONNECT (the broker then discards the will) and close; no reconnect. */
  disconnect(): this {
    this._want = false;
    this._p.cancel(this._timer);
    this._timer = undefined;
    const s = this._sock;
    if (s) {
      if (this._up) this._write(DISCONNECT_PACKET);
      this._closed("disconnect requested");
      s.end();
    }
    return this;
  }

  /**
   * Publish; false (and an `error` event) when the message cannot be accepted:
   * invalid topic or QoS, offline at QoS 0, or inflight and queue full.
   */
  publish(topic: string, message: unknown, opts?: { qos?: number; retain?: boolean }): boolean {
    const qos = opts && opts.qos || 0, retain = !!(opts && opts.retain);
    const why = topicError(topic, false);
    if (why || !(qos >= 0 && qos <= 2 && qos % 1 == 0)) {
      return this._refuse(why ? "invalid_topic" : "invalid_qos", why || "qos must be 0, 1 or 2", 1);
    }
    const t = toUtf8(topic) as string, m = toBytes(message);
    if (!qos) {
      if (!this._up) return this._refuse("offline", "not connected: QoS 0 message dropped", 1);
      this._n[0]++;
      this._write(encodePublish(t, m, 0, retain, 0));
      return true;
    }
    const room = this._up && this._out.length < this._maxIn;
    if (!room && this._q.length >= this._maxQ) {
      return this._refuse("queue_full", "inflight (" + this._maxIn + ") and queue (" + this._maxQ + ") are full", 1);
    }
    const p = encodePublish(t, m, qos, retain, this._nextId());
    if (room) this._send(p); else this._q.push(p);
    return true;
  }

  /**
   * subscribe("a/+") | subscribe(["a","b"], {qos}) | subscribe({"a": 1, "b": 2}); an
   * optional handler gets only messages matching these filters.
   */
  subscribe(filters: string | string[] | { [filter: string]: number }, opts?: { qos?: number } | Handler,
    handler?: Handler): boolean {
    if (typeof opts == "function") { handler = opts; opts = undefined; }
    const qos0 = opts && opts.qos || 0, list: string[] = [], qos: number[] = [];
    if (typeof filters == "string") filters = [filters];
    if (Array.isArray(filters)) {
      for (let i = 0; i < filters.length; i++) { list.push(filters[i]); qos.push(qos0); }
    } else {
      for (const f in filters) { list.push(f); qos.push(filters[f]); }
    }
    for (let i = 0; i < list.length; i++) {
      const why = topicError(list[i], true) || (qos[i] >= 0 && qos[i] <= 2 && qos[i] % 1 == 0 ? "" : "qos must be 0, 1 or 2");
      if (why) return this._refuse("invalid_filter", list[i] + ": " + why);
    }
    if (!list.length) return this._refuse("invalid_filter", "no topic filter given");
    const bytes: string[] = [];
    for (let i = 0; i < list.length; i++) {
      this._subs[list[i]] = [qos[i], handler];
      bytes.push(toUtf8(list[i]) as string);
    }
    this._control(encodeSubscribe(this._nextId(), bytes, qos));
    return true;
  }

  unsubscribe(filters: string | string[]): boolean {
    const list = typeof filters == "string" ? [filters] : filters, bytes: string[] = [];
    for (let i = 0; i < list.length; i++) {
      const why = topicError(list[i], true);
      if (why) return this._refuse("invalid_filter", list[i] + ": " + why);
      delete this._subs[list[i]];
      bytes.push(toUtf8(list[i]) as string);
    }
    if (!list.length) return this._refuse("invalid_filter", "no topic filter given");
    this._control(encodeUnsubscribe(this._nextId(), bytes));
    return true;
  }

  stats() {
    const n = this._n;
    return {
      sent: n[0], received: n[1], dropped: n[2], oversize: n[3], reconnects: n[4],
      inflight: this._out.length, queued: this._q.length, connected: this._up,
    };
  }

  // ---- connection lifecycle ----

  _open() {
    let s: Socket;
    try {
      s = this._p.open(this._host, this._port, this._tls, () => {
        if (s != this._sock) return;
        this._write(this._connect);
        this._wait = this._p.now();
      });
    } catch (e) {
      // No TLS on this board (ESP8266) or an unusable address: retrying cannot help.
      this._want = false;
      this.emit("error", mqttError("connect", "cannot open a connection to " + this._host + ": " + (e as Error).message));
      return;
    }
    this._sock = s;
    this._sent = this._heard = this._p.now();
    this._wait = 0;
    s.on("data", (d: string) => {
      if (s != this._sock) return;
      try {
        this._fr.push(d);
      } catch (e) {
        // Malformed or forbidden input closes the connection [MQTT-4.8.0-1]; never an uncaught exception.
        const x = e as { code?: string; message: string };
        this._drop(mqttError(x.code || "protocol", "protocol error from broker: " + x.message));
      }
    });
    s.on("error", (e: { message?: string }) => {
      if (s == this._sock) this.emit("error", mqttError("socket", "connection to " + this._host + ": " + (e && e.message)));
    });
    s.on("close", () => {
      if (s == this._sock) this._closed(this._up ? "connection lost" : "connection failed");
    });
    // Checking 10 times per keep-alive period (at most every 5 s) keeps every
    // deadline below within a tenth of the keep-alive.
    this._tick = this._p.every(() => this._check(), Math.min(this._ka / 10, 5000));
  }

  /**
   * Keep-alive: PINGREQ once nothing was sent for the keep-alive period (or,
   * for a publish-only client, nothing heard for two of them), and a connection
   * whose CONNACK or PINGRESP is late (half the period, at least 3 s for
   * CONNACK) is declared dead [MQTT-3.1.2-23, MQTT-3.1.2-24].
   */
  _check() {
    const now = this._p.now(), ka = this._ka, tick = Math.min(ka / 10, 5000);
    if (this._wait) {
      if (now - this._wait >= (this._up ? ka / 2 : Math.max(ka / 2, 3000))) {
        this._drop(mqttError("timeout", (this._up ? "no PINGRESP" : "no CONNACK") + " within " + Math.round((now - this._wait) / 1000) + " s"));
      }
    } else if (this._up && (now - this._sent + tick > ka || now - this._heard > 2 * ka)) {
      this._write(PINGREQ_PACKET);
      this._wait = now;
    }
  }

  /** Close after an error of ours or the broker's; the `close` handler reconnects. */
  _drop(e: Error) {
    const s = this._sock;
    this.emit("error", e);
    this._closed((e as Error & { code: string }).code == "timeout" ? "keep-alive timeout" : e.message);
    if (s) s.end();
  }

  _closed(reason: string) {
    const p = this._p, wasUp = this._up;
    p.cancel(this._tick);
    this._sock = null;
    this._up = false;
    this._wait = 0;
    this._fr.reset();
    if (wasUp) {
      if (p.now() - this._since >= STABLE) this._tries = 0;
      this.emit("disconnected", reason);
    }
    if (this._want && this._retry) {
      // 1 s doubling to 60 s, each delay jittered down to half so a fleet that
      // lost the same broker does not come back in step.
      const d = Math.min(MAX_BACKOFF, 1000 * Math.pow(2, this._tries++));
      this._timer = p.after(() => {
        this._timer = undefined;
        this._n[4]++;
        this._open();
      }, d / 2 + p.random() * d / 2);
    }
  }

  // ---- inbound ----

  _packet(first: number, body: string, oversize: boolean) {
    if (!this._sock) return;
    const p = decode(first, body, oversize), t = p.type, id = p.id;
    this._heard = this._p.now();
    this._wait = 0;
    if (t == CONNACK) return this._connack(p);
    if (!this._up) throw { code: "protocol", message: "packet type " + t + " before CONNACK" };
    if (t == PUBLISH) return this._receive(p, oversize);
    const i = this._find(this._out, id);
    const e = this._out[i];
    if (t == PUBACK || t == PUBCOMP) {
      // PUBACK also settles a QoS 2 publish: some brokers grant only QoS 1 (RabbitMQ).
      if (e && (t == PUBCOMP ? typeOf(e) == PUBREL : typeOf(e) == PUBLISH)) {
        this._out.splice(i, 1);
        this._pump();
      }
    } else if (t == PUBREC) {
      // Answer even an unknown PUBREC, or the broker would hold the message forever.
      const rel = encodeAck(PUBREL, id);
      if (e) this._out[i] = rel;
      this._write(rel);
    } else if (t == PUBREL) {
      // Release: the message was delivered when it first came; an unknown id
      // is still answered [MQTT-4.3.3-2 flow].
      const k = this._rx.indexOf(id);
      if (k >= 0) this._rx.splice(k, 1);
      this._write(encodeAck(PUBCOMP, id));
    } else if (t == SUBACK || t == UNSUBACK) {
      this._settle(t, id, p.granted);
    }
  }

  _connack(p: Packet) {
    const rc = p.returnCode as number;
    if (this._up) throw { code: "protocol", message: "second CONNACK" };
    if (rc) return this._drop(mqttError(REFUSED[rc], "connection refused: " + REFUSED_TEXT[rc]));
    this._up = true;
    this._since = this._p.now();
    if (p.sessionPresent) {
      // The broker kept our subscriptions: only unanswered requests go again.
      for (let i = 0; i < this._ctl.length; i++) this._write(this._ctl[i]);
    } else {
      // A new session: the broker knows no subscription and no QoS 2 id of ours.
      this._rx = [];
      for (let i = 0; i < this._ctl.length; i++) {
        if (typeOf(this._ctl[i]) != SUBSCRIBE) this._announce("unsubscribed", this._ctl[i], []);
      }
      this._ctl = [];
      const f: string[] = [], q: number[] = [];
      for (const k in this._subs) { f.push(toUtf8(k) as string); q.push(this._subs[k][0]); }
      if (f.length) this._control(encodeSubscribe(this._nextId(), f, q));
    }
    // Unacknowledged messages go again, oldest first, PUBLISH with DUP set [MQTT-4.4.0-1].
    for (let i = 0; i < this._out.length; i++) {
      const e = this._out[i];
      this._write(typeOf(e) == PUBLISH ? withDup(e) : e);
    }
    this._pump();
    this.emit("connected", !!p.sessionPresent);
  }

  _receive(p: Packet, oversize: boolean) {
    const id = p.id, qos = p.qos as number;
    if (oversize) {
      this._n[3]++;
      this.emit("error", mqttError("oversize", "dropped a message larger than max_packet on " + p.topic));
    }
    if (qos == 2) {
      // Exactly once: an id already PUBREC'd is a resend, not a new message.
      if (this._rx.indexOf(id) < 0) {
        this._rx.push(id);
        if (!oversize) this._deliver(p);
      }
      this._write(encodeAck(PUBREC, id));
    } else {
      if (!oversize) this._deliver(p);
      if (qos && id) this._write(encodeAck(PUBACK, id));
    }
  }

  _deliver(p: Packet) {
    const topic = p.topic as string, m = p.message as string;
    this._n[1]++;
    this.emit("publish", p);
    this.emit("message", topic, m);
    for (const f in this._subs) {
      const h = this._subs[f][1];
      if (h && topicMatches(f, topic)) {
        try {
          h(topic, m, p);
        } catch (e) {
          this.emit("error", mqttError("handler", "handler of " + f + " threw: " + (e as Error).message));
        }
      }
    }
  }

  /** SUBACK/UNSUBACK: report each filter of the request it answers. */
  _settle(t: number, id: number, granted?: number[]) {
    const i = this._find(this._ctl, id), req = this._ctl[i];
    if (!req || (typeOf(req) == SUBSCRIBE) != (t == SUBACK)) return;
    this._ctl.splice(i, 1);
    this._announce(t == SUBACK ? "subscribed" : "unsubscribed", req, granted || []);
  }

  _announce(event: string, req: string, granted: number[]) {
    const filters = filtersOf(req);
    for (let k = 0; k < filters.length; k++) {
      const f = fromUtf8(filters[k]) as string, g = granted[k];
      if (event == "subscribed" && !(g <= 2)) {
        // 0x80 (ejabberd answers 0x8F): refused, so this filter is not ours any more.
        delete this._subs[f];
        this.emit("subscribe_failed", f, g);
      } else {
        if (event == "subscribed" && this._subs[f]) this._subs[f][0] = g;
        this.emit(event, f, g);
      }
    }
  }

  // ---- outbound ----

  _write(p: string) {
    this._sent = this._p.now();
    (this._sock as Socket).write(p);
  }

  _send(p: string) {
    this._n[0]++;
    this._out.push(p);
    this._write(p);
  }

  _control(p: string) {
    this._ctl.push(p);
    if (this._up) this._write(p);
  }

  /** Move queued messages into the inflight window as it frees up. */
  _pump() {
    while (this._up && this._q.length && this._out.length < this._maxIn) this._send(this._q.shift() as string);
  }

  /** Report a refused call; `dropped` counts a refused message. */
  _refuse(code: string, why: string, dropped?: number): false {
    this._n[2] += dropped || 0;
    this.emit("error", mqttError(code, why));
    return false;
  }

  _find(list: string[], id: number): number {
    for (let i = 0; i < list.length; i++) if (idOf(list[i]) == id) return i;
    return -1;
  }

  /** Next free packet id: 1..65535, wrapping, skipping ids still in use [MQTT-2.3.1-2]. */
  _nextId(): number {
    do {
      this._id = this._id % 65535 + 1;
    } while (this._find(this._out, this._id) >= 0 || this._find(this._q, this._id) >= 0 || this._find(this._ctl, this._id) >= 0);
    return this._id;
  }
}
