// The MQTT 3.1.1 session: one connection at a time, CONNECT/CONNACK, keep-alive,
// reconnect with backoff, packet ids, the bounded inflight and offline tables,
// QoS 1/2 handshakes both ways, subscriptions and local dispatch.
//
// Sockets and timers come from an injected Platform, so this file uses no
// board globals. Events go through Espruino's built-in `emit` (queued: the
// handlers run after the current code), which every object has on the board
// and the host simulator provides.
//
// The board shapes this file. A function costs five variables plus one per
// parameter, a field about one (a boolean or a double two), and a closure made
// at run time about twelve (its scope and `this` are kept with it): packets in
// flight are kept as their encoded bytes, and socket and timer callbacks are
// shared functions, made once at load, that find their client through the
// socket (`socket.c`) or the timer's argument. And every call of a function
// reads its whole text: what each message goes through (publish, _packet)
// is kept short, the rest of the inbound handling is in _control.
import {
  CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBACK,
  PINGREQ_PACKET, DISCONNECT_PACKET, Packet,
  decode, encodeAck, encodeConnect, encodePublish, encodeSubscription, field, filtersOf, findId,
} from "../protocol/codec.js";
import { Framer } from "../protocol/framer.js";
import { topicError, topicMatches } from "../protocol/topic.js";
import { BYTES, fromUtf8, toUtf8 } from "../protocol/utf8.js";

/**
 * What a socket from the platform offers (Espruino's net/tls socket). Its
 * listeners run with `this` set to the socket, as on Espruino.
 */
export interface Socket {
  write(data: string): unknown;
  end(): void;
  on(event: string, handler: (this: Socket, arg?: any) => void): void;
  /** The client this socket serves; cleared when the client leaves the connection. */
  c?: Client;
}

/** The platform seam: everything the session needs from the board. */
export interface Platform {
  /** Open a TCP (tls falsy) or TLS connection; throws {code:"unsupported"} without TLS. */
  open(host: string, port: number, tls: unknown, onOpen: (this: Socket) => void): Socket;
  /** Timers call `fn(arg)`, as Espruino's setTimeout(fn, ms, arg) does: no closure needed. */
  after(fn: (c: Client) => void, ms: number, arg: Client): unknown;
  every(fn: (c: Client) => void, ms: number, arg: Client): unknown;
  cancel(timer: unknown): void;   // never called with undefined (Espruino throws)
  now(): number;                  // milliseconds
  random(): number;
}

export interface Will { topic: string; message?: unknown; qos?: number; retain?: boolean }
export interface Server { host: string; port?: number }
export interface Options {
  host: string;
  port?: number;
  /** Brokers of one cluster, tried in turn: a lost or refused connection moves to the next (host/port then ignored). */
  servers?: Server[];
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
  write_buffer?: number;
  tls?: unknown;
}
export type Handler = (topic: string, message: string, packet: Packet) => void;
export type MqttError = Error & { code: string };

// CONNACK return codes 1..5 as stable error codes (one string: cheaper than an array on the board).
const REFUSED = ",bad_protocol,id_rejected,server_unavailable,bad_credentials,not_authorized";

const MAX_BACKOFF = 60000;
/**
 * A connection that lasted this long resets the backoff; shorter ones (kicked
 * by a twin with the same client id, refused, a flapping link) keep growing it.
 * Longer would keep a device on a link that drops every few tens of seconds
 * offline for most of the time (the soak measured 43% at 30 s).
 */
const STABLE = 10000;

/** A message as bytes: binary strings as they are, text beyond Latin-1 as UTF-8, byte arrays by value. */
export function toBytes(m: unknown): string {
  if (typeof m == "string") return BYTES || !/[^\x00-\xff]/.test(m) ? m : toUtf8(m) || "";
  if (m == undefined) return "";
  if (m instanceof ArrayBuffer) m = new Uint8Array(m);
  if (typeof m == "object" && typeof (m as ArrayLike<number>).length == "number") {
    // In slices: Espruino's apply() takes at most 256 arguments. Typed arrays slice as views.
    const a = m as { length: number; subarray?: Function; slice: Function };
    let s = "";
    for (let i = 0; i < a.length; i += 256) {
      // Espruino's subarray does not clamp its end to the length: clamp here.
      s += String.fromCharCode.apply(null, (a.subarray || a.slice).call(a, i, Math.min(i + 256, a.length)));
    }
    return s;
  }
  return String(m);
}

// ---- callbacks shared by every connection ----
// Each runs for one socket (`this`) and does nothing once its client has left
// that socket (`c` cleared): events still queued from an old connection must
// not touch the next one.

function onOpen(this: Socket) {
  const c = this.c;
  if (c) c._write(c._connect);
}

function onData(this: Socket, d: string) {
  const c = this.c;
  if (!c) return;
  c._heard = c._p.now();
  try {
    (c._fr as Framer).push(d);
  } catch (e) {
    // Malformed or forbidden input closes the connection [MQTT-4.8.0-1], never an uncaught exception.
    // Unless a packet earlier in this chunk already left it (a refused CONNACK): closing twice
    // would schedule a second reconnect and leak a socket.
    const x = e as { code?: string; message: string };
    if (this.c) c._close(x.message, x.code || "protocol", "protocol error from broker: " + x.message);
  }
}

function onDrain(this: Socket) {
  const c = this.c;
  if (!c) return;
  c._busy = 0;
  c._pump();
}

function onError(this: Socket, e: { message?: string }) {
  const c = this.c;
  if (c) c._err("socket", "connection to " + c._host + ": " + (e && e.message));
}

/**
 * The connection closed. Some brokers answer what they do not support by
 * closing it: RabbitMQ a refused SUBSCRIBE, NATS a QoS 2 PUBLISH. Resending it
 * after every reconnect would loop forever, so when the broker closes twice
 * in a row with the same request unanswered, that request is given up: the
 * filters are reported with `subscribe_failed`, and QoS 2 messages go on at
 * QoS 1 (still delivered, at least once).
 */
function onClose(this: Socket) {
  const c = this.c;
  if (!c) return;
  if (!c._up) return c._close("connection failed");
  let k = 0, sub = c._ctl[0], q2 = "";
  while (sub && sub.charCodeAt(0) >> 4 != SUBSCRIBE) sub = c._ctl[++k];
  for (let i = 0; i < c._out.length && !q2; i++) if ((c._out[i].charCodeAt(0) & 6) == 4) q2 = c._out[i];
  // On reconnect subscriptions go before messages, so a pending SUBSCRIBE is
  // the suspect; it is known by its filters, as a new session resends it
  // with a new packet id. NUL cannot occur in a filter.
  const key = sub ? "\0" + filtersOf(sub).join("\0") : q2, last = c._suspect;
  c._suspect = key;
  // Such a broker closes as soon as the request arrives again after the reconnect; a link that
  // merely dropped twice rarely does so within seconds of a new CONNACK with the same request pending.
  if (!key || key != last || c._p.now() - c._since > 5000) return c._close("connection lost");
  if (sub) {
    c._ctl.splice(k, 1);
    const f = filtersOf(sub);
    for (let i = 0; i < f.length; i++) {
      const t = fromUtf8(f[i]) as string;
      delete c._subs[t];
      delete c._hs[t];
      c.emit("subscribe_failed", t, 0x80);
    }
  } else if (q2) {
    c._qos2 = 0;
    c._err("qos2_refused", "the broker closes the connection on QoS 2 messages: sending them at QoS 1");
    const lists = [c._out, c._q];
    for (let j = 0; j < 2; j++) {
      for (let i = 0; i < lists[j].length; i++) {
        const p = lists[j][i], b = p.charCodeAt(0);
        // QoS bits 10 -> 01; a PUBREL (type 6, flags 0010) is left alone.
        if (b >> 4 == PUBLISH && (b & 6) == 4) lists[j][i] = String.fromCharCode(b ^ 6) + p.substr(1);
      }
    }
  }
  c._suspect = "";
  c._close("connection lost");
}

/**
 * The client's one timer. Without a socket it is the reconnect: open the next
 * connection. With one it is the keep-alive, checked ten times per period (at
 * most 5 s apart) so each deadline holds within a tenth of it: PINGREQ once
 * nothing was sent for (just under) the keep-alive period [MQTT-3.1.2-23], or,
 * for a client that only publishes, nothing was heard for two periods; the
 * connection is dead when the PINGRESP is late (half the period) or the
 * CONNACK is (half the period, at least 10 s from opening the socket: TLS on
 * an ESP32 takes seconds).
 */
function timer(c: Client) {
  if (!c._sock) {
    c._timer = undefined;
    c._n[4]++;
    return c._open();
  }
  const now = c._p.now(), ka = c._ka;
  if (c._wait) {
    if (now - c._wait >= (c._up ? ka / 2 : Math.max(ka / 2, 10000))) {
      c._close("keep-alive timeout", "timeout",
        (c._up ? "no PINGRESP" : "no CONNACK") + " within " + Math.round((now - c._wait) / 1000) + " s");
    }
  } else if (c._up && (now - c._sent + Math.min(ka / 10, 5000) > ka || now - c._heard > 2 * ka)) {
    c._write(PINGREQ_PACKET);
    c._wait = now;
  }
}

export class Client {
  declare emit: (event: string, a?: unknown, b?: unknown) => void;
  // Fields in the order they are first set, which on the board is the order a lookup
  // searches them in: those every message touches come first.
  _sock: Socket | undefined = undefined;
  _fr: Framer | undefined = undefined;     // the current connection's framer
  _up = 0;                   // CONNACK accepted on the current socket
  _wait = 0;                 // when we sent CONNECT or PINGREQ still unanswered (0: none)
  _heard = 0;                // when bytes last arrived
  _sent = 0;                 // when we last wrote a packet
  _busy = 0;                 // bytes written since the socket last said "drain"
  _maxOut = 0;               // write_buffer
  _q: string[] = [];         // accepted PUBLISH waiting for the socket or the inflight window
  _out: string[] = [];       // sent, not yet acknowledged: QoS 1/2 PUBLISH or PUBREL, oldest first
  _maxIn = 0;                // inflight
  _n = [0, 0, 0, 0, 0];      // sent, received, dropped, oversize, reconnects
  _topic = "/";              // last topic name that passed topicError (a valid one to start: never "") ...
  _tfield = "\0\x01/";       // ... as a PUBLISH carries it: field(UTF-8 bytes)
  _qos2 = 1;                 // 0 once the broker showed it closes on QoS 2 publishes
  _rx: number[] = [];        // inbound QoS 2 ids acknowledged with PUBREC, not yet released
  _hs: { [filter: string]: Handler } = {};            // the filters given a handler (looped per message)
  _held = 0;                 // a publish was queued or refused since the queue was last empty
  _id = 0;                   // last packet id handed out
  _ctl: string[] = [];       // SUBSCRIBE/UNSUBSCRIBE waiting for SUBACK/UNSUBACK
  _subs: { [filter: string]: number } = {};          // our filters and their granted QoS
  _want = 0;                 // the user asked to be connected
  _timer: unknown;           // keep-alive check while a socket is open, else the pending reconnect
  _since = 0;                // when the current connection was accepted
  _tries = 0;                // failed or short-lived connections in a row (drives the backoff)
  _suspect = "";             // what was unanswered at the last close by the broker (see onClose)
  _host: string;
  _port: number;
  _tls: unknown;
  _connect: string;          // the encoded CONNECT, built once
  _ka: number;               // keep-alive in ms
  _retry: number;            // 1: reconnect after a loss (flags are 0/1: on the board a boolean costs a variable more)
  _maxQ: number;
  _maxP: number;
  _list: Server[] | undefined;  // servers (two or more), each with its port; _host/_port hold the one in use
  declare _at: number;       // index in _list of the one in use (set with _list)

  /** Throws an Error with code "option" for options that cannot work. */
  constructor(public _p: Platform, o: Options) {
    const fail = (msg: string): never => {
      const e = new Error(msg) as MqttError;
      e.code = "option";
      throw e;
    };
    const int = (v: unknown, dflt: number, min: number, max: number, name: string): number => {
      const n = v == undefined ? dflt : v as number;
      return typeof n == "number" && !(n % 1) && n >= min && n <= max ? n
        : fail(name + " must be an integer from " + min + " to " + max);
    };
    // MQTT strings are UTF-8 without U+0000 [MQTT-1.5.3-2].
    const text = (s: unknown, name: string): string => {
      const b = typeof s == "string" && !/\0/.test(s) ? toUtf8(s) : undefined;
      return b == undefined ? fail(name + " must be text without U+0000") : short(b, name);
    };
    // Every CONNECT field has a 16-bit length.
    const short = (b: string, name: string): string => b.length > 65535 ? fail(name + " is longer than 65535 bytes") : b;
    const l = o.servers, list: Server[] = [];
    if (l != undefined) {
      for (let i = 0; i < l.length; i++) {
        const h = l[i] && l[i].host;
        if (h && typeof h == "string") list.push({ host: h, port: int(l[i].port, 1883, 1, 65535, "servers port") });
      }
      if (!list.length || list.length != l.length) fail("servers must be a list of {host, port}");
      if (list.length > 1) { this._list = list; this._at = 0; }
      this._host = list[0].host;
      this._port = list[0].port as number;
    } else {
      this._host = o.host;
      this._port = int(o.port, 1883, 1, 65535, "port");
    }
    this._tls = o.tls;
    const ka = int(o.keep_alive, 60, 1, 65535, "keep_alive (0 would switch keep-alive off)");
    this._ka = ka * 1000 | 0; // an integer: 1e3 would make it a double, a variable more
    const clean = o.clean_session !== false, id = text(o.client_id == undefined ? "" : o.client_id, "client_id");
    // A broker may assign an id only to a clean session [MQTT-3.1.3-7].
    if (!id && !clean) fail("clean_session:false needs a client_id");
    const name = o.protocol_name || (o.protocol_level == 3 ? "MQIsdp" : "MQTT"), w = o.will;
    if (w && topicError(w.topic, false)) fail("will.topic: " + topicError(w.topic, false));
    // A password without a user name cannot be sent [MQTT-3.1.2-22].
    if (o.password != undefined && o.username == undefined) fail("password needs a username");
    this._connect = encodeConnect({
      protocolName: name,
      protocolLevel: int(o.protocol_level, name == "MQIsdp" ? 3 : 4, 3, 4, "protocol_level"),
      clientId: id,
      keepAlive: ka,
      clean: clean,
      will: w ? {
        topic: toUtf8(w.topic) as string, message: short(toBytes(w.message), "will.message"),
        qos: int(w.qos, 0, 0, 2, "will.qos"), retain: !!w.retain,
      } : undefined,
      username: o.username == undefined ? undefined : text(o.username, "username"),
      password: o.password == undefined ? undefined : short(toBytes(o.password), "password"),
    });
    this._retry = o.reconnect === false ? 0 : 1;
    this._maxIn = int(o.inflight, 8, 1, 65535, "inflight");
    this._maxQ = int(o.queue, 8, 0, 65535, "queue");
    this._maxOut = int(o.write_buffer, 2048, 64, 1e9, "write_buffer");
    this._maxP = int(o.max_packet, 1024, 16, 268435460, "max_packet");
  }

  /** Connect now (also cancels a pending backoff); reconnects on loss unless `reconnect: false`. */
  connect(): this {
    this._want = 1;
    if (!this._sock) {
      if (this._timer) this._p.cancel(this._timer);
      this._timer = undefined;
      this._open();
    }
    return this;
  }

  /** Send DISCONNECT (the broker then discards the will [MQTT-3.14.4-3]) and close; no reconnect. */
  disconnect(): this {
    this._want = 0;
    if (this._timer) this._p.cancel(this._timer);
    this._timer = undefined;
    if (this._sock) {
      if (this._up) this._write(DISCONNECT_PACKET);
      this._close("disconnect requested");
    }
    return this;
  }

  /**
   * Publish; false (and an `error` event) when the message cannot be accepted:
   * invalid topic or QoS, offline at QoS 0, or queue full. Espruino keeps
   * unsent socket data in variables, so once `write_buffer` bytes wait for the
   * socket (or the inflight window is full), messages wait in the queue; the
   * client emits "drain" when it has sent them all.
   */
  publish(topic: string, message: unknown, opts?: { qos?: number; retain?: boolean }): boolean {
    let qos = opts && opts.qos || 0;
    if (qos == 2 && !this._qos2) qos = 1;
    // Devices publish the same few topics again and again: the last one checked is remembered,
    // encoded as the PUBLISH carries it.
    if (topic !== this._topic) {
      const why = topicError(topic, false);
      if (why) return this._err("invalid_topic", why, 1);
      this._topic = topic;
      this._tfield = field(toUtf8(topic) as string);
    }
    if (!(qos >= 0 && qos <= 2 && !(qos % 1))) return this._err("invalid_qos", "qos must be 0, 1 or 2", 1);
    if (!qos && !this._up) return this._err("offline", "not connected: QoS 0 message dropped", 1);
    const now = !this._q.length && this._up && this._busy < this._maxOut && (!qos || this._out.length < this._maxIn);
    if (!now) this._held = 1;
    if (!now && this._q.length >= this._maxQ) {
      return this._err("queue_full", "inflight (" + this._maxIn + ") and queue (" + this._maxQ + ") are full", 1);
    }
    // Where strings are bytes a string message is sent as it is: no call to convert it.
    const p = encodePublish(this._tfield, BYTES && typeof message == "string" ? message : toBytes(message), qos,
      !!(opts && opts.retain), qos ? this._nextId() : 0);
    if (!now) this._q.push(p);
    else {
      // _send, written out: this is the path every message takes.
      this._n[0]++;
      if (qos) this._out.push(p);
      this._write(p);
    }
    return true;
  }

  /**
   * subscribe("a/+") | subscribe(["a","b"], {qos}) | subscribe({"a": 1, "b": 2});
   * an optional handler gets only the messages matching these filters.
   */
  subscribe(filters: string | string[] | { [filter: string]: number }, opts?: { qos?: number } | Handler,
    handler?: Handler): boolean {
    if (typeof opts == "function") { handler = opts; opts = undefined; }
    const list: string[] = [], qos: number[] = [];
    if (typeof filters == "string") filters = [filters];
    if (Array.isArray(filters)) {
      for (let i = 0; i < filters.length; i++) { list.push(filters[i]); qos.push(opts && opts.qos || 0); }
    } else {
      for (const f in filters) { list.push(f); qos.push(filters[f]); }
    }
    return this._sub(list, qos, handler);
  }

  unsubscribe(filters: string | string[]): boolean {
    return this._sub(typeof filters == "string" ? [filters] : filters);
  }

  /**
   * Writes bytes as they are on the current connection (false when not connected); `count` 1 counts
   * them as a message sent. For a feature that streams one large packet (header, then the payload in
   * pieces) within one tick, so no other packet comes between and no copy of it is held in the queue.
   */
  raw(bytes: string, count?: number): boolean {
    if (!this._up) return false;
    this._n[0] += count || 0;
    this._write(bytes);
    return true;
  }

  stats() {
    const n = this._n;
    return {
      sent: n[0], received: n[1], dropped: n[2], oversize: n[3], reconnects: n[4],
      inflight: this._out.length, queued: this._q.length, connected: !!this._up,
    };
  }

  /** SUBSCRIBE (with `qos`) or UNSUBSCRIBE the filters, after checking them all. */
  _sub(list: string[], qos?: number[], handler?: Handler): boolean {
    const bytes: string[] = [];
    for (let i = 0; i < list.length; i++) {
      const q = qos ? qos[i] : 0, why = topicError(list[i], true) || (q >= 0 && q <= 2 && !(q % 1) ? "" : "qos must be 0, 1 or 2");
      if (why) return this._err("invalid_filter", list[i] + ": " + why);
      bytes.push(toUtf8(list[i]) as string);
    }
    if (!list.length) return this._err("invalid_filter", "no topic filter given");
    for (let i = 0; i < list.length; i++) {
      const f = list[i];
      if (qos) this._subs[f] = qos[i]; else delete this._subs[f];
      if (qos && handler) this._hs[f] = handler; else delete this._hs[f];
    }
    this._send(encodeSubscription(this._nextId(), bytes, qos));
    return true;
  }

  // ---- connection lifecycle ----

  _open() {
    let s: Socket;
    try {
      s = this._p.open(this._host, this._port, this._tls, onOpen);
    } catch (e) {
      // Espruino throws here for a refused port or an unknown host (retried
      // like any failed connection); the platform throws code "unsupported"
      // on a board without TLS, where retrying cannot help.
      const x = e as { code?: string; message?: string };
      if (x.code == "unsupported") this._want = 0;
      return this._close("connection failed", x.code || "connect", "cannot connect to " + this._host + ": " + x.message);
    }
    s.c = this;
    this._sock = s;
    // One framer per connection: bytes of the last one must not run into this one.
    this._fr = new Framer(this._maxP, this);
    // The CONNACK deadline runs from here: a TCP connect or TLS handshake
    // that never completes must not hang the client either.
    this._sent = this._heard = this._wait = this._p.now();
    // No write limit until the socket shows it reports "drain" (Espruino does
    // right after connecting): a socket that never does must not stall the queue.
    this._busy = -1e9;
    s.on("data", onData);
    s.on("drain", onDrain);
    s.on("error", onError);
    s.on("close", onClose);
    this._timer = this._p.every(timer, Math.min(this._ka / 10, 5000), this);
  }

  /**
   * Leave the current connection (reporting `code`/`message` as an error when
   * given) and, if the user still wants one, schedule the next attempt.
   */
  _close(reason: string, code?: string, message?: string) {
    const p = this._p, s = this._sock, wasUp = this._up;
    if (code) this._err(code, message as string);
    if (this._timer) p.cancel(this._timer);
    // Detach the socket and the framer: events and packets still queued from them are ignored.
    if (this._fr) this._fr._sink = undefined;
    this._sock = this._fr = this._timer = undefined;
    this._up = 0;
    this._wait = 0;
    if (s) {
      s.c = undefined;
      s.end();
    }
    if (wasUp) {
      if (p.now() - this._since >= STABLE) this._tries = 0;
      this.emit("disconnected", reason);
    }
    if (this._want && this._retry) {
      // The next server of a cluster: the session and the messages in flight go on with it.
      const l = this._list;
      if (l) {
        const n = l[this._at = (this._at + 1) % l.length];
        this._host = n.host;
        this._port = n.port as number;
      }
      // 1 s doubling to 60 s, each delay jittered down to half so a fleet that
      // lost the same broker does not come back in step.
      const d = Math.min(MAX_BACKOFF, 1000 * Math.pow(2, this._tries++));
      this._timer = p.after(timer, d / 2 + p.random() * d / 2, this);
    }
  }

  // ---- inbound ----

  /**
   * One packet from the broker, from the current connection's Framer (decoded
   * here; a ProtocolError thrown here closes the connection).
   */
  _packet(first: number, body: string, oversize: boolean) {
    const p = decode(first, body, oversize), id = p.id;
    this._wait = 0;
    // Messages take this short path: on the board every call of a function
    // reads its whole text, so the other packet types are handled in _control.
    if (p.type != PUBLISH) return this._control(p);
    if (!this._up) throw { code: "protocol", message: "packet type 3 before CONNACK" };
    const qos = p.qos as number, topic = p.topic as string, m = p.message as string;
    if (oversize) this._n[3]++, this._err("oversize", "dropped a message larger than max_packet on " + topic);
    // Exactly once: a QoS 2 id already acknowledged with PUBREC is a resend, not a new message.
    const fresh = qos < 2 || this._rx.indexOf(id) < 0;
    if (qos == 2) { if (fresh) this._rx.push(id); }
    if (fresh && !oversize) {
      this._n[1]++;
      this.emit("publish", p);
      this.emit("message", topic, m);
      for (const f in this._hs) {
        const h = this._hs[f];
        if (topicMatches(f, topic)) {
          try {
            h(topic, m, p);
          } catch (x) {
            this._err("handler", "handler of " + f + " threw: " + (x as Error).message);
          }
        }
      }
    }
    // A handler may have left this connection (disconnect(), even connect() again): no ack then.
    if (qos && id && this._up) this._write(encodeAck(qos == 2 ? PUBREC : PUBACK, id));
  }

  /** Any packet from the broker but PUBLISH. */
  _control(p: Packet) {
    const t = p.type, id = p.id, out = this._out;
    if (t == CONNACK) {
      const rc = p.returnCode as number;
      if (this._up) throw { code: "protocol", message: "second CONNACK" };
      const why = REFUSED.split(",")[rc];
      if (rc) return this._close("refused", why, "connection refused by broker: " + why + " (CONNACK " + rc + ")");
      this._up = 1;
      this._since = this._heard;
      // Announced before the resends below: if one of them finds the socket closed, the
      // "disconnected" that follows pairs with it.
      this.emit("connected", !!p.sessionPresent);
      if (!p.sessionPresent) {
        // A new session: the broker knows none of our subscriptions and QoS 2 ids.
        this._rx = [];
        // One SUBSCRIBE per filter, so a broker refusing one filter cannot take the others with it.
        const ctl = this._ctl;
        for (let k = ctl.length - 1; k >= 0; k--) if (ctl[k].charCodeAt(0) >> 4 == SUBSCRIBE) ctl.splice(k, 1);
        for (const k in this._subs) ctl.push(encodeSubscription(this._nextId(), [toUtf8(k) as string], [this._subs[k]]));
      }
      // Unanswered requests, then unacknowledged messages, oldest first [MQTT-4.4.0-1]. A message
      // accepted by publish() is never dropped: into a new session (clean, or the broker lost it)
      // it goes as a first delivery, into the same session as a resend with DUP set [MQTT-3.3.1-1].
      const again = this._ctl.concat(out), dup = p.sessionPresent ? 8 : 0;
      for (let k = 0; k < again.length; k++) {
        const a = again[k];
        this._write(a.charCodeAt(0) >> 4 == PUBLISH ? String.fromCharCode(a.charCodeAt(0) | dup) + a.substr(1) : a);
      }
      this._pump();
      return;
    }
    if (!this._up) throw { code: "protocol", message: "packet type " + t + " before CONNACK" };
    if (t == PUBACK || t == PUBREC || t == PUBCOMP) {
      const i = findId(out, id), e = out[i];
      if (t == PUBREC) {
        // Answer even an unknown PUBREC, or the broker would hold the message forever.
        const rel = encodeAck(PUBREL, id);
        if (e) out[i] = rel;
        this._write(rel);
      } else if (e && (e.charCodeAt(0) >> 4 == PUBLISH) == (t == PUBACK)) {
        // PUBACK settles a PUBLISH, also a QoS 2 one (RabbitMQ grants QoS 1 only); PUBCOMP a PUBREL.
        out.splice(i, 1);
        this._pump();
      }
    } else if (t == PUBREL) {
      // The message was delivered when it came; release its id. An unknown id is still answered.
      const k = this._rx.indexOf(id);
      if (k >= 0) this._rx.splice(k, 1);
      this._write(encodeAck(PUBCOMP, id));
    } else if (t == SUBACK || t == UNSUBACK) {
      const k = findId(this._ctl, id), req = this._ctl[k], g = p.granted || [];
      if (!req || (req.charCodeAt(0) >> 4 == SUBSCRIBE) != (t == SUBACK)) return;
      const filters = filtersOf(req);
      // One return code per filter, in order [MQTT-3.9.3-1]; a shorter list would report "undefined".
      if (t == SUBACK && g.length != filters.length) throw { code: "protocol", message: "SUBACK has " + g.length + " return codes for " + filters.length + " filters" };
      this._ctl.splice(k, 1);
      for (let j = 0; j < filters.length; j++) {
        const f = fromUtf8(filters[j]) as string;
        if (t == UNSUBACK) this.emit("unsubscribed", f);
        else if (!(g[j] <= 2)) {
          // Refused (0x80): the filter is not ours any more.
          delete this._subs[f];
          delete this._hs[f];
          this.emit("subscribe_failed", f, g[j]);
        } else {
          if (this._subs[f] != undefined) this._subs[f] = g[j];
          this.emit("subscribed", f, g[j]);
        }
      }
    }
  }

  // ---- outbound ----

  _write(p: string) {
    const s = this._sock;
    if (!s) return;
    this._sent = this._p.now();
    this._busy += p.length;
    try {
      s.write(p);
    } catch (e) {
      // The socket closed before its queued "close" event reached us: Espruino throws
      // "This socket is closed". That is a lost connection, not the caller's error.
      this._close("connection lost", "socket", "write failed: " + (e as Error).message);
    }
  }

  /** First send of a PUBLISH (QoS 1/2 ones wait in _out for their ack) or a (UN)SUBSCRIBE (in _ctl). */
  _send(p: string) {
    if (p.charCodeAt(0) >> 4 == PUBLISH) {
      this._n[0]++;
      if (p.charCodeAt(0) & 6) this._out.push(p);
    } else {
      this._ctl.push(p);
    }
    if (this._up) this._write(p);
  }

  /**
   * Send queued messages, in order, while the socket and the inflight window
   * have room; once the queue is empty again, "drain" tells a publisher that
   * had to wait to go on.
   */
  _pump() {
    const q = this._q;
    while (this._up && q.length && this._busy < this._maxOut && (!(q[0].charCodeAt(0) & 6) || this._out.length < this._maxIn)) {
      this._send(q.shift() as string);
    }
    if (this._held && this._up && !q.length) {
      this._held = 0;
      this.emit("drain");
    }
  }

  /** Emit an `error` with a stable code; `dropped` counts a refused message. Returns false for callers to pass on. */
  _err(code: string, message: string, dropped?: number): false {
    const e = new Error(message) as MqttError;
    e.code = code;
    this._n[2] += dropped || 0;
    this.emit("error", e);
    return false;
  }

  /** Next free packet id: 1..65535, wrapping, skipping ids still in use [MQTT-2.3.1-2]. */
  _nextId(): number {
    do {
      this._id = this._id % 65535 + 1;
    } while (findId(this._out, this._id) >= 0 || findId(this._q, this._id) >= 0 || findId(this._ctl, this._id) >= 0);
    return this._id;
  }
}
