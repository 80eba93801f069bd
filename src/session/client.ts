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
// socket (`socket.c`) or the timer's argument. Every call of a function reads
// its whole text, skipped branches and the text after a `return` included, and
// in RAM every built-in call costs microseconds: the common message takes one
// short function each way (publish() for a QoS 0 one on the last topic, the
// loop in onData for a received one), and everything else is in functions the
// common message does not enter (_pub, _hold, _packet, the parts).
//
// This file is what stays loaded: connecting, keep-alive, reconnect, and the
// common case of publishing and receiving at QoS 0 and 1. Everything else is a
// cold part, loaded only while it is needed (see parts.ts): option checks and
// CONNECT (setup), SUBSCRIBE/UNSUBSCRIBE and their acks (sub), CONNACK, QoS 2
// and every unusual inbound packet (ctl), the refused-request logic (close),
// publishes that are not the common case (pub), subscription handlers (match).
import { PUBLISH, PUBACK, PUBREC, PINGREQ_PACKET, DISCONNECT_PACKET, Packet, findId, frame, u16 } from "../protocol/codec.js";
import { Frames, step } from "../protocol/framer.js";
import { BYTES } from "../protocol/utf8.js";
import { part } from "./parts.js";
import type { Stream } from "./stream.js";

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

const MAX_BACKOFF = 60000;
/**
 * A connection that lasted this long resets the backoff; shorter ones (kicked
 * by a twin with the same client id, refused, a flapping link) keep growing it.
 * Longer would keep a device on a link that drops every few tens of seconds
 * offline for most of the time (the soak measured 43% at 30 s).
 */
const STABLE = 10000;

// ---- callbacks shared by every connection ----
// Each runs for one socket (`this`) and does nothing once its client has left
// that socket (`c` cleared): events still queued from an old connection must
// not touch the next one.

function onOpen(this: Socket) {
  const c = this.c;
  if (c) c._write(c._connect);
}

/**
 * Bytes from the broker. The common message is unpacked right here, straight from the chunk: a QoS 0
 * PUBLISH (0x30) with a one-byte remaining length, on the topic of the last message that passed the
 * checks (its field, length and bytes, compared in one go). Every other packet, a packet split across
 * chunks and everything before CONNACK (then `_rfield` is 0, which matches nothing) goes to the framer's
 * step() and `_packet`. On the board this loop's text is read for every message: keep it short.
 */
function onData(this: Socket, d: string) {
  const c = this.c;
  if (!c) return;
  c._heard = c._p.now();
  const data = c._pending ? c._pending + d : d, n = data.length,
    // The largest remaining length taken here: one byte, and the packet within max_packet.
    most = Math.min(127, c._max - 2),
    // The packet object only for whom wants it: handlers, "publish" listeners (Espruino keeps them as
    // "#onpublish"). Neither can appear while this chunk is read: only handlers run meanwhile.
    all = c._hs || (c as unknown as { [k: string]: unknown })["#onpublish"];
  // Declared here, not in the loop: on Espruino a let/const inside a block makes a scope object each time.
  let p = 0, f: string, k: number, l: number, m: string;
  c._pending = "";
  try {
    // The rest of an oversize packet being dropped (only ever at the start of a chunk); its end may
    // change the remembered topic, read after it.
    if (c._skip) p = step(c, data, 0);
    f = c._rfield as string;
    k = f.length;
    while (p < n && this.c) {
      l = data.charCodeAt(p + 1);
      if (data.charCodeAt(p) == 48 && l <= most && l >= k && p + 2 + l <= n && data.substr(p + 2, k) === f) {
        m = data.substr(p + 2 + k, l - k);
        p += 2 + l;
        c._wait = 0;
        c._nRecv++;
        if (!all) c.emit("message", c._rtext, m);
        else announce(c, 48, m);
      } else {
        p = step(c, data, p);
        f = c._rfield as string;
        k = f.length;
      }
    }
  } catch (e) {
    // Malformed or forbidden input closes the connection [MQTT-4.8.0-1], never an uncaught exception.
    // Unless a packet earlier in this chunk already left it (a refused CONNACK): closing twice
    // would schedule a second reconnect and leak a socket.
    const x = e as { code?: string; message: string };
    if (this.c) c._close(x.message, x.code || "protocol", "protocol error from broker: " + x.message);
  }
}

/**
 * A message on the last checked topic, when there are "publish" listeners or handlers given to
 * subscribe() (called by the "match" part, loaded once there are any): they get the packet, built here
 * only for them; "message" gets the topic and the payload.
 */
function announce(c: Client, head: number, m: string) {
  // `head`: the first byte of the packet, its packet id above (one parameter less: each costs a variable).
  // One literal: on the board each property added afterwards is a search through those already there.
  const p: Packet = { type: PUBLISH, id: head >> 8, topic: c._rtext, qos: head >> 1 & 3, dup: !!(head & 8), retain: !!(head & 1), message: m };
  c.emit("publish", p);
  c.emit("message", p.topic, m);
  if (c._hs) part("match", 1).dispatch(c, p);
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

/** The connection closed: after a CONNACK the "close" part looks at what the broker left unanswered. */
function onClose(this: Socket) {
  const c = this.c;
  if (c) c._up ? part("close").closed(c) : c._close("connection failed");
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
    c._nReconnects++;
    return c._open();
  }
  const now = c._p.now(), ka = c._ka, step = Math.min(ka / 10, 5000);
  // publish() does not note the time of its writes (for a message that is text and time): a count that
  // moved since the last check means a write since then, i.e. at most one step ago.
  if (c._nSent !== c._ns) {
    c._ns = c._nSent;
    if (c._sent < now - step) c._sent = now - step;
  }
  if (c._wait) {
    if (now - c._wait >= (c._up ? ka / 2 : Math.max(ka / 2, 10000))) {
      c._close("keep-alive timeout", "timeout",
        (c._up ? "no PINGRESP" : "no CONNACK") + " within " + Math.round((now - c._wait) / 1000) + " s");
    }
  } else if (c._up && (now - c._sent + step > ka || now - c._heard > 2 * ka)) {
    c._write(PINGREQ_PACKET);
    c._wait = now;
  }
}

export class Client implements Frames {
  declare emit: (event: string, a?: unknown, b?: unknown) => void;
  // Fields in the order they are first set, which on the board is the order a lookup
  // searches them in: those every message touches come first. Fields only a cold part
  // uses are set by that part, when it first needs them.
  _sock: Socket | undefined = undefined;
  // The framing of the current connection's bytes (src/protocol/framer.ts), reset for each one:
  _pending = "";             // bytes of an incomplete packet
  _skip = 0;                 // bytes of an oversize packet still to drop
  declare _first: number;    // first byte of that packet
  declare _head: string;     // its kept start
  _up = 0;                   // CONNACK accepted on the current socket
  _wait = 0;                 // when we sent CONNECT or PINGREQ still unanswered (0: none)
  _heard = 0;                // when bytes last arrived
  _sent = 0;                 // when we last wrote a packet (publish() only counts its writes, in _nSent)
  _busy = 0;                 // bytes written since the socket last said "drain"
  _maxOut = 0;               // write_buffer
  _q: string[] = [];         // accepted PUBLISH waiting for the socket or the inflight window
  _out: string[] = [];       // sent, not yet acknowledged: QoS 1/2 PUBLISH or PUBREL, oldest first
  _maxIn = 0;                // inflight
  // Counters for stats(): messages sent, received, dropped, oversize; reconnects.
  _nSent = 0;
  _nRecv = 0;
  _nDropped = 0;
  _nOversize = 0;
  _nReconnects = 0;
  declare _ns: number;       // _nSent when the timer last looked
  _topic = "/";              // last topic name published to, checked (a valid one to start: never "") ...
  _tfield = "\0\x01/";       // ... as a PUBLISH carries it: field(UTF-8 bytes)
  _rfield: string | 0 = 0;   // last inbound topic that passed the checks, as a PUBLISH carries it (0: none yet) ...
  declare _rtext: string;    // ... and as text (set with it)
  declare _held: number;     // 1: a publish was queued or refused since the queue was last empty (set then)
  _id = 0;                   // last packet id handed out
  _ctl: string[] = [];       // SUBSCRIBE/UNSUBSCRIBE waiting for SUBACK/UNSUBACK
  _want = 0;                 // the user asked to be connected
  _timer: unknown;           // keep-alive check while a socket is open, else the pending reconnect
  _since = 0;                // when the current connection was accepted
  _tries = 0;                // failed or short-lived connections in a row (drives the backoff)
  // Set from the options by the "setup" part:
  declare _host: string;
  declare _port: number;
  declare _tls: unknown;
  declare _connect: string;  // the encoded CONNECT, built once
  declare _ka: number;       // keep-alive in ms
  declare _retry: number;    // 1: reconnect after a loss (flags are 0/1: on the board a boolean costs a variable more)
  declare _maxQ: number;
  declare _max: number;     // max_packet
  declare _list: Server[] | undefined;  // servers (two or more), each with its port; _host/_port hold the one in use
  declare _at: number;       // index in _list of the one in use (set with _list)
  // Set by cold parts when first needed:
  declare _subs: { [filter: string]: number } | undefined;  // our filters and their granted QoS (sub)
  declare _hs: { [filter: string]: Handler } | undefined;   // the filters given a handler (sub; see the "match" part)
  declare _rx: number[] | undefined;  // inbound QoS 2 ids acknowledged with PUBREC, not yet released (ctl)
  declare _suspect: string | undefined;  // what was unanswered at the last close by the broker (close)
  declare _q2off: number | undefined;  // 1 once the broker showed it closes on QoS 2 publishes (close)
  declare _st: Stream | undefined;     // a message being streamed in pieces (stream)

  /** Throws an Error with code "option" for options that cannot work (checked in the "setup" part). */
  constructor(public _p: Platform, o: Options) {
    part("setup").init(this, o);
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
    // Here only what most messages are: QoS 0 without options, a byte string on the topic of the last one,
    // connected, nothing queued and room in the socket. The board reads this text for every message.
    if (opts || topic !== this._topic || typeof message != "string" || !BYTES || !this._up) return this._pub(topic, message, opts);
    const b = this._tfield + message, p = b.length < 128 ? String.fromCharCode(48, b.length) + b : frame(48, b);
    if (this._q.length || this._busy >= this._maxOut) return this._hold(p);
    // _write() without the call (and without noting the time: see timer()).
    this._nSent++;
    this._busy += p.length;
    try {
      (this._sock as Socket).write(p);
    } catch (e) {
      part("close").lost(this, e);
    }
    return true;
  }

  /**
   * publish() for the rest: options, QoS 1, a new topic, the queue, in full here; a topic to check in
   * full, QoS 2, a message to convert, offline, in the "pub" part, which then stays loaded.
   */
  _pub(topic: string, message: unknown, opts?: { qos?: number; retain?: boolean }): boolean {
    const qos = opts && opts.qos || 0;
    // A topic name of plain ASCII without NUL or wildcards is valid and is its own UTF-8: it becomes the
    // remembered one. Any other is for the "pub" part to check in full.
    const plain = topic === this._topic || typeof topic == "string" && topic.length < 65536 && /^[\x01-\x22\x24-\x2a\x2c-\x7f]+$/.test(topic);
    if (!plain || (qos !== 0 && qos !== 1) || !BYTES || typeof message != "string" || !this._up) {
      return part("pub", 1).publish(this, topic, message, opts);
    }
    if (topic !== this._topic) {
      this._topic = topic;
      this._tfield = u16(topic.length) + topic;
    }
    const first = 48 | qos << 1 | (opts && opts.retain ? 1 : 0), body = this._tfield + (qos ? u16(this._nextId()) : "") + message;
    // A remaining length under 128 takes one byte: most messages are framed here.
    const p = body.length < 128 ? String.fromCharCode(first, body.length) + body : frame(first, body);
    if (!this._q.length && this._busy < this._maxOut && (!qos || this._out.length < this._maxIn)) {
      this._nSent++;
      if (qos) this._out.push(p);
      this._write(p);
      return true;
    }
    return this._hold(p);
  }

  /**
   * An encoded PUBLISH that must wait (messages queued before it, the socket's buffer or the inflight
   * window full): into the queue, which _pump() sends from, or refused when the queue is full. A
   * function of its own: from Storage, _pub()'s text would be read for each.
   */
  _hold(p: string): boolean {
    this._held = 1;
    if (this._q.length >= this._maxQ) return part("pub", 1).full(this);
    this._q.push(p);
    return true;
  }

  /**
   * subscribe("a/+") | subscribe(["a","b"], {qos}) | subscribe({"a": 1, "b": 2});
   * an optional handler gets only the messages matching these filters.
   */
  subscribe(filters: string | string[] | { [filter: string]: number }, opts?: { qos?: number } | Handler,
    handler?: Handler): boolean {
    return part("sub").subscribe(this, filters, opts, handler);
  }

  unsubscribe(filters: string | string[]): boolean {
    return part("sub").unsubscribe(this, filters);
  }

  /**
   * Writes bytes as they are on the current connection (false when not connected); `count` 1 counts
   * them as a message sent. For a feature that streams one large packet (header, then the payload in
   * pieces) within one tick, so no other packet comes between and no copy of it is held in the queue.
   */
  raw(bytes: string, count?: number): boolean {
    if (!this._up) return false;
    this._nSent += count || 0;
    this._write(bytes);
    return true;
  }

  stats() {
    return {
      sent: this._nSent, received: this._nRecv, dropped: this._nDropped, oversize: this._nOversize, reconnects: this._nReconnects,
      inflight: this._out.length, queued: this._q.length, connected: !!this._up,
    };
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
    // Framing starts afresh: bytes of the last connection must not run into this one.
    this._pending = "";
    this._skip = 0;
    this._rfield = 0;
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
    // Detach the socket and the framing: events and packets still queued from them are ignored.
    this._sock = this._timer = undefined;
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
   * One packet from the broker that onData() did not unpack itself, from the framing of the current
   * connection. A PUBACK, a PINGRESP, and a message at QoS 0 or 1 on a topic checked before (or a plain
   * one) are taken here; anything else is checked in full by the "ctl" part, which for a message answers
   * the message to deliver or nothing. A ProtocolError thrown here closes the connection.
   */
  _packet(first: number, body: string, oversize: boolean) {
    this._wait = 0;
    if (first >> 4 != PUBLISH) {
      // A PUBACK or PINGRESP here, anything else (or a malformed one) in the "ctl" part.
      const out = this._out, i = body.charCodeAt(0) << 8 | body.charCodeAt(1);
      if (!this._up || oversize || (first == 0x40 ? body.length != 2 || !i : first != 0xd0 || body.length)) {
        // QoS 2 handshakes come in a stream: that part stays loaded.
        return part("ctl", first >> 4 > 4 && first >> 4 < 8 ? 1 : 0).control(this, first, body, oversize);
      }
      // PUBACK settles a PUBLISH, also a QoS 2 one (RabbitMQ grants QoS 1 only); a PINGRESP (id 0) only was heard.
      const k = findId(out, i);
      if (k >= 0 && out[k].charCodeAt(0) >> 4 == PUBLISH) {
        out.splice(k, 1);
        this._pump();
      }
      return;
    }
    const qos = first >> 1 & 3, tl = body.charCodeAt(0) << 8 | body.charCodeAt(1), start = tl + (qos ? 4 : 2),
      f = body.substr(0, tl + 2), id = qos ? body.charCodeAt(start - 2) << 8 | body.charCodeAt(start - 1) : 0;
    // A plain ASCII topic (no NUL, no wildcard, not empty) is valid and is its own text.
    if (f !== this._rfield && /^[\x01-\x22\x24-\x2a\x2c-\x7f]+$/.test(f.substr(2))) {
      this._rfield = f;
      this._rtext = f.substr(2);
    }
    let m: string | undefined = body.substr(start);
    if (qos > 1 || oversize || !this._up || body.length < start || (qos ? !id : first & 8) || f !== this._rfield) {
      const p: Packet | undefined = part("ctl", 1).publish(this, first, body, oversize);
      if (!p) return;
      m = p.message;
    }
    this._nRecv++;
    if (this._hs || (this as unknown as { [k: string]: unknown })["#onpublish"]) announce(this, first | id << 8, m as string);
    else this.emit("message", this._rtext, m);
    // A handler may have left this connection (disconnect(), even connect() again): no ack then.
    if (qos && this._up) this._write(String.fromCharCode((qos == 2 ? PUBREC : PUBACK) << 4, 2) + u16(id));
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
      part("close").lost(this, e);
    }
  }

  /**
   * Send queued messages, in order, while the socket and the inflight window
   * have room; once the queue is empty again, "drain" tells a publisher that
   * had to wait to go on.
   */
  _pump() {
    const q = this._q;
    let p: string;
    while (this._up && q.length && this._busy < this._maxOut && (!(q[0].charCodeAt(0) & 6) || this._out.length < this._maxIn)) {
      p = q.shift() as string;
      this._nSent++;
      // QoS 1/2 messages wait in _out for their ack.
      if (p.charCodeAt(0) & 6) this._out.push(p);
      this._write(p);
    }
    if (this._held && this._up && !q.length) {
      this._held = 0;
      this.emit("drain");
    }
  }

  /**
   * Emit an `error` with a stable code. Returns false for callers to pass on. The Error is made without
   * its constructor: on the board `new Error` records a stack trace, which for code loaded from Storage
   * reads the text of every function on the stack from flash, milliseconds per error (a publisher paced
   * by "queue_full" refusals gets one every few dozen messages).
   */
  _err(code: string, message: string): false {
    const e = Object.create(Error.prototype) as MqttError;
    e.message = message;
    e.code = code;
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
