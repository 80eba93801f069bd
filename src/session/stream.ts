// The "stream" part: one PUBLISH too large for the board to hold at once, written in pieces across
// the socket's "drain" events (firmware/mote-mqtt-stream.js; a feature requires it for the message
// and lets it go: it is not one of the parts the resident client loads itself).
//
//   stream(client, topic, len, next, ctx, retain)
//
// next(ctx, k) gives the k-th piece (k = 0, 1, ...) as a byte string: the first when called, each next
// one when the socket has sent everything before it, so that the board holds one piece at a time and
// never the whole message. The pieces must add up to exactly `len` bytes; after them next() returns ""
// (the message is complete), or null at any time to give up (the caller found no memory for the piece).
// QoS 0 only: a QoS 1 message would have to be kept whole until acknowledged.
//
// Why it cannot be plain writes: Espruino keeps what a tick writes to a socket in variables until the
// tick ends and copies what the first TCP chunk (536 bytes) leaves while sending it, so a message
// written in one tick costs about twice its length; and nothing may come between the pieces of one
// packet. While a stream is going, the client's other packets wait: publish() queues (the write
// budget is shown as used), its queue is not pumped, and every other write (acks, PINGREQ, SUBSCRIBE)
// is held and written right after the message.
//
// A message cut short is never completed with other bytes: a piece that would overrun `len`, a piece
// that is not bytes, null from next(), or "" before `len` bytes close the connection instead (the
// broker drops a packet whose connection ends before its last byte, so nothing half-written is ever
// retained), with an `error` event (code "stream"); the client reconnects as after any loss.
import type { Client, Socket } from "./client.js";
import { BYTES } from "../protocol/utf8.js";
import { field } from "../protocol/codec.js";

/** A stream in progress (client._st). */
export interface Stream {
  s: Socket;                      // the socket it writes on: another one means the stream is over
  t: string;                      // the topic
  n: (ctx: any, k: number) => string | null;
  x: any;                         // ctx, given to n
  k: number;                      // next piece
  left: number;                   // bytes still to come
  b: number;                      // bytes written since the socket's last "drain"
  h: string;                      // other packets written meanwhile, held for after the message
  w: (this: Client, p: string) => void;  // the client's own _write
}

/**
 * Starts the PUBLISH (QoS 0) of a `len`-byte message on `topic` (plain ASCII, no wildcards): its
 * header and first piece now, the rest on drains. False, with nothing written, when not connected,
 * another stream is going, or the topic is not a plain one.
 */
export function stream(c: Client, topic: string, len: number, next: (ctx: any, k: number) => string | null, ctx?: any, retain?: boolean): boolean {
  // A plain ASCII topic (no NUL, no wildcards, not empty) is valid and is its own UTF-8.
  if (!c._up || c._st || !(len >= 0) || typeof topic != "string" || topic.length > 65535 || !/^[\x01-\x22\x24-\x2a\x2c-\x7f]+$/.test(topic)) return false;
  let n = 2 + topic.length + len, h = "";
  do {
    const d = n & 127;
    n = n >> 7;
    h += String.fromCharCode(n ? d | 128 : d);
  } while (n);
  const st: Stream = { s: c._sock as Socket, t: topic, n: next, x: ctx, k: 0, left: len, b: 0, h: "", w: c._write };
  c._st = st;
  // Own properties in front of the prototype's methods, for as long as the stream goes: no closure.
  (c as any)._write = held;
  (c as any)._pump = pump;
  c._nSent++;
  write(c, st, String.fromCharCode(retain ? 0x31 : 0x30) + h + field(topic));
  send(c, st);
  return true;
}

function write(c: Client, st: Stream, p: string) {
  st.b += p.length;
  st.w.call(c, p);
}

/** The next piece, or the end. */
function send(c: Client, st: Stream) {
  if (c._st !== st) return;  // the header's write failed: the connection is gone
  const p = st.n(st.x, st.k++);
  if (p === "" && !st.left) return done(c, st);
  // (Where strings are bytes, as on the board, every piece is; on a Unicode build one may not be.)
  if (typeof p != "string" || !p || p.length > st.left || (!BYTES && /[^\x00-\xff]/.test(p))) {
    return cut(c, st, typeof p != "string" ? "given up" : !p ? st.left + " bytes missing" : p.length > st.left ? "longer than announced" : "not bytes");
  }
  st.left -= p.length;
  write(c, st, p);
  // Shown as busy: publish() queues meanwhile, and only the socket's drain (which sets 0) goes on.
  if (c._st === st) c._busy = 1e9;
}

/** Stands for client._pump during a stream: a drain writes the next piece; anything else waits. */
function pump(this: Client) {
  const st = this._st;
  if (!st || this._sock !== st.s) return over(this)._pump();
  // Not the socket's drain (a PUBACK let the inflight window move, say): the stream goes first.
  if (this._busy) return;
  st.b = 0;
  send(this, st);
}

/** Stands for client._write during a stream: other packets wait for the message's last byte. */
function held(this: Client, p: string) {
  const st = this._st;
  if (!st || this._sock !== st.s) return over(this)._write(p);
  st.h += p;
}

/** The client's own methods back (the connection the stream was on is gone, or it is done). */
function over(c: Client): Client {
  delete (c as any)._write;
  delete (c as any)._pump;
  c._st = undefined;
  return c;
}

function done(c: Client, st: Stream) {
  over(c);
  // What was written since the last drain is still unsent: the write budget counts it.
  c._busy = st.b;
  if (st.h) c._write(st.h);
  c._pump();
}

function cut(c: Client, st: Stream, why: string) {
  over(c);
  c._close("connection lost", "stream", "message on " + st.t + " cut short (" + why + "): connection closed so that no broker keeps part of it");
}
