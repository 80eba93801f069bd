// Cuts a TCP byte stream (binary strings of any size, split anywhere) into
// MQTT packets. It keeps at most one incomplete packet, never more than `_max`
// bytes: a larger packet is dropped as it streams in, and only its first `_max`
// bytes are kept so the receiver can still read its topic and packet id.
//
// The state lives on the object that takes the packets (the client, which
// resets it for every connection): on the board an object of its own per
// connection, with a class to make it, costs more variables than the framing.
import type { ProtocolError } from "./codec.js";

/** Takes the packets: first header byte, body (remaining-length bytes), oversize flag. */
export interface PacketSink { _packet(first: number, body: string, oversize: boolean): void }

/** What the framer keeps between chunks, on the object that takes the packets. */
export interface Frames extends PacketSink {
  _max: number;      // largest packet kept, bytes
  _pending: string;  // bytes of an incomplete packet, from its first header byte
  _skip: number;     // bytes of an oversize packet still to drop
  _first: number;    // first byte of the oversize packet being dropped
  _head: string;     // the kept start of the oversize packet's body
  /**
   * The stream being framed (the client's socket). Cleared, or replaced by the next one, at any
   * time (even from _packet): the rest of the chunk being framed is then dropped.
   */
  _sock: unknown;
}

/** Feed the next bytes from the connection; throws a ProtocolError on a malformed length. */
export function take(s: Frames, chunk: string): void {
  // Only an incomplete packet is carried over, so this join is bounded by `max`;
  // complete packets are sliced out by offset, never by re-copying the rest.
  const on = s._sock, data = s._pending ? s._pending + chunk : chunk, n = data.length;
  let pos = 0;
  s._pending = "";
  while (pos < n && on && s._sock === on) pos = step(s, data, pos);
}

/**
 * Frames the one packet that starts at `pos` of `data` (the carried-over bytes already joined in front)
 * and returns where the next one starts: the packet goes to `_packet`, the bytes of an oversize one are
 * dropped as they pass (its first `max` kept, so the receiver can still read its topic and packet id),
 * an incomplete one is kept in `_pending` (then it returns the end of `data`). One function for all
 * of it: on the board each function costs variables.
 * The client calls it for every packet its own loop does not unpack itself (see onData in client.ts).
 */
export function step(s: Frames, data: string, pos: number): number {
  // Declared here, not in the block: on Espruino a let/const inside a block makes a scope object each time.
  const n = data.length;
  let i = pos + 1, len = 0, mul = 1, b, k, room, head;
  if (!s._skip) {
    // Remaining length: 1 to 4 bytes, 7 bits each, low bits first.
    do {
      if (i >= n) { s._pending = data.substr(pos); return n; }
      b = data.charCodeAt(i++);
      len += (b & 127) * mul;
      mul *= 128;
    } while (b & 128 && i - pos < 5);
    if (b & 128) throw { code: "protocol", message: "remaining length longer than 4 bytes" } as ProtocolError;
    if (i - pos + len <= s._max) {
      if (i + len > n) { s._pending = data.substr(pos); return n; }
      s._packet(data.charCodeAt(pos), data.substr(i, len), false);
      return i + len;
    }
    // Oversize: dropped from here on, as it streams in (below, and in the next chunks).
    s._first = data.charCodeAt(pos);
    s._skip = len;
    s._head = "";
    pos = i;
  }
  // The next bytes of an oversize packet: its first `max` are kept; it goes to the sink once all of it passed.
  k = Math.min(s._skip, n - pos);
  room = s._max - s._head.length;
  if (room > 0) s._head += data.substr(pos, Math.min(k, room));
  s._skip -= k;
  if (!s._skip) {
    head = s._head;
    s._head = "";
    s._packet(s._first, head, true);
  }
  return pos + k;
}

/**
 * The framer as an object of its own, passing packets to `_sink` (the host tests drive it this way;
 * the client is its own framer). Clearing `_sink` drops the rest of the stream.
 */
export class Framer implements Frames {
  _pending = "";
  _skip = 0;
  _first = 0;
  _head = "";
  constructor(public _max: number, public _sink: PacketSink | undefined) {}
  get _sock(): unknown { return this._sink; }
  push(chunk: string): void { take(this, chunk); }
  _packet(first: number, body: string, oversize: boolean): void {
    if (this._sink) this._sink._packet(first, body, oversize);
  }
}
