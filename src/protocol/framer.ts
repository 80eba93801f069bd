// Cuts a TCP byte stream (binary strings of any size, split anywhere) into
// MQTT packets. It keeps at most one incomplete packet, never more than `max`
// bytes: a larger packet is dropped as it streams in, and only its first `max`
// bytes are kept so the receiver can still read its topic and packet id.
// One Framer serves one connection: a new connection gets a new Framer.
import type { ProtocolError } from "./codec.js";

/**
 * Takes the packets: first header byte, body (remaining-length bytes), oversize
 * flag. An object rather than a callback: on the board a closure made per
 * connection costs more than the framer itself.
 */
export interface PacketSink { _packet(first: number, body: string, oversize: boolean): void }

export class Framer {
  _pending = "";   // bytes of an incomplete packet, from its first header byte
  _skip = 0;       // bytes of an oversize packet still to drop
  _first = 0;      // first byte of the oversize packet being dropped
  _head = "";      // the kept start of the oversize packet's body
  /** `_sink` may be cleared at any time (even by the sink itself): the rest of the stream is then dropped. */
  constructor(public _max: number, public _sink: PacketSink | undefined) {}

  /** Feed the next bytes from the connection; throws a ProtocolError on a malformed length. */
  push(chunk: string) {
    // Only an incomplete packet is carried over, so this join is bounded by `max`;
    // complete packets are sliced out by offset, never by re-copying the rest.
    const data = this._pending ? this._pending + chunk : chunk, n = data.length;
    let pos = 0;
    this._pending = "";
    // The board reads this loop's text for every packet: what is rare (oversize packets) is in _drop.
    while (pos < n && this._sink) {
      if (this._skip) { pos = this._drop(data, pos); continue; }
      // Remaining length: 1 to 4 bytes, 7 bits each, low bits first.
      let i = pos + 1, len = 0, mul = 1, b;
      do {
        if (i >= n) { this._pending = data.substr(pos); return; }
        b = data.charCodeAt(i++);
        len += (b & 127) * mul;
        mul *= 128;
      } while (b & 128 && i - pos < 5);
      if (b & 128) throw { code: "protocol", message: "remaining length longer than 4 bytes" } as ProtocolError;
      if (i - pos + len > this._max) {
        this._first = data.charCodeAt(pos);
        this._skip = len;
        pos = this._drop(data, i);
        continue;
      }
      if (i + len > n) { this._pending = data.substr(pos); return; }
      this._sink._packet(data.charCodeAt(pos), data.substr(i, len), false);
      pos = i + len;
    }
  }

  /**
   * Drop the next bytes of an oversize packet from `data` at `pos`, keeping
   * its first `max` bytes; the packet goes to the sink once all of it passed.
   * Returns where the data after it starts.
   */
  _drop(data: string, pos: number): number {
    const take = Math.min(this._skip, data.length - pos), room = this._max - this._head.length;
    if (room > 0) this._head += data.substr(pos, Math.min(take, room));
    this._skip -= take;
    if (!this._skip && this._sink) {
      const head = this._head;
      this._head = "";
      this._sink._packet(this._first, head, true);
    }
    return pos + take;
  }
}
