// MQTT 3.1.1 control packets <-> binary strings (one char per byte).
// Encoders build the packets a client sends; `decode` checks and unpacks the
// packets a broker may send and throws a ProtocolError for anything else.
import { fromUtf8 } from "./utf8.js";

export const CONNECT = 1, CONNACK = 2, PUBLISH = 3, PUBACK = 4, PUBREC = 5, PUBREL = 6, PUBCOMP = 7,
  SUBSCRIBE = 8, SUBACK = 9, UNSUBSCRIBE = 10, UNSUBACK = 11, PINGREQ = 12, PINGRESP = 13, DISCONNECT = 14;

export const PINGREQ_PACKET = "\xc0\x00";
export const DISCONNECT_PACKET = "\xe0\x00";

/** What a decoded inbound packet holds; only the fields of its type are set. */
export interface Packet {
  type: number;
  id: number;          // packet identifier, 0 when the type has none
  // CONNACK
  sessionPresent?: boolean;
  returnCode?: number;
  // PUBLISH
  topic?: string;      // decoded text
  message?: string;    // payload bytes (named as in the client's "publish" event)
  qos?: number;
  retain?: boolean;
  dup?: boolean;
  // SUBACK
  granted?: number[];
}

/** Thrown by `decode`/`Framer` for bytes no conforming broker sends. */
export interface ProtocolError { code: "protocol"; message: string }

export function protocolError(message: string): ProtocolError {
  return { code: "protocol", message: message };
}

const u16 = (n: number) => String.fromCharCode(n >> 8 & 255, n & 255);
/** An MQTT length-prefixed field; `bytes` is already UTF-8 or binary. */
export const field = (bytes: string) => u16(bytes.length) + bytes;
const readU16 = (b: string, i: number) => b.charCodeAt(i) << 8 | b.charCodeAt(i + 1);

/** Fixed header (first byte + remaining length in 1-4 bytes) + body. */
export function frame(first: number, body: string): string {
  let n = body.length, len = "";
  if (n > 268435455) throw protocolError("packet larger than 256 MB");
  do {
    const d = n & 127;
    n = n >> 7;
    len += String.fromCharCode(n ? d | 128 : d);
  } while (n);
  return String.fromCharCode(first) + len + body;
}

export interface ConnectFields {
  protocolName: string;   // "MQTT" (level 4) or "MQIsdp" (level 3)
  protocolLevel: number;
  clientId: string;       // UTF-8 bytes, like the other strings here
  keepAlive: number;      // seconds
  clean: boolean;
  will?: { topic: string; message: string; qos: number; retain: boolean };
  username?: string;
  password?: string;      // binary data
}

export function encodeConnect(c: ConnectFields): string {
  const w = c.will;
  let flags = c.clean ? 2 : 0, payload = field(c.clientId);
  if (w) {
    flags |= 4 | w.qos << 3 | (w.retain ? 32 : 0);
    payload += field(w.topic) + field(w.message);
  }
  if (c.username != undefined) { flags |= 128; payload += field(c.username); }
  if (c.password != undefined) { flags |= 64; payload += field(c.password); }
  return frame(CONNECT << 4,
    field(c.protocolName) + String.fromCharCode(c.protocolLevel, flags) + u16(c.keepAlive) + payload);
}

/** PUBLISH; `topic` is UTF-8 bytes, `id` is ignored at QoS 0. */
export function encodePublish(topic: string, payload: string, qos: number, retain: boolean, id: number): string {
  return frame(PUBLISH << 4 | qos << 1 | (retain ? 1 : 0), field(topic) + (qos ? u16(id) : "") + payload);
}

/** PUBACK, PUBREC, PUBREL (reserved flags 0010 [MQTT-3.6.1-1]), PUBCOMP, UNSUBACK-like 2-byte packets. */
export function encodeAck(type: number, id: number): string {
  return String.fromCharCode(type << 4 | (type == PUBREL ? 2 : 0), 2) + u16(id);
}

/** SUBSCRIBE (flags 0010 [MQTT-3.8.1-1]); filters are UTF-8 bytes, one QoS each. */
export function encodeSubscribe(id: number, filters: string[], qos: number[]): string {
  let body = u16(id);
  for (let i = 0; i < filters.length; i++) body += field(filters[i]) + String.fromCharCode(qos[i]);
  return frame(SUBSCRIBE << 4 | 2, body);
}

/** UNSUBSCRIBE (flags 0010 [MQTT-3.10.1-1]). */
export function encodeUnsubscribe(id: number, filters: string[]): string {
  let body = u16(id);
  for (let i = 0; i < filters.length; i++) body += field(filters[i]);
  return frame(UNSUBSCRIBE << 4 | 2, body);
}

/** Packet type of an encoded packet. */
export const typeOf = (p: string) => p.charCodeAt(0) >> 4;

/** Offset of the variable header in an encoded packet. */
function bodyStart(p: string): number {
  let i = 1;
  while (p.charCodeAt(i++) & 128);
  return i;
}

/** Packet identifier of an encoded PUBLISH (QoS > 0), PUBREL, SUBSCRIBE or UNSUBSCRIBE. */
export function idOf(p: string): number {
  let i = bodyStart(p);
  if (typeOf(p) == PUBLISH) i += 2 + readU16(p, i);
  return readU16(p, i);
}

/** The same PUBLISH with the DUP flag set, for a resend [MQTT-3.3.1-1]. */
export const withDup = (p: string) => String.fromCharCode(p.charCodeAt(0) | 8) + p.substr(1);

/** Filters (UTF-8 bytes) listed in an encoded SUBSCRIBE or UNSUBSCRIBE. */
export function filtersOf(p: string): string[] {
  const out: string[] = [], qosBytes = typeOf(p) == SUBSCRIBE ? 1 : 0;
  for (let i = bodyStart(p) + 2; i < p.length;) {
    const len = readU16(p, i);
    out.push(p.substr(i + 2, len));
    i += 2 + len + qosBytes;
  }
  return out;
}

// Required first-byte flags of every type a broker may send, PUBLISH aside.
const FLAGS: { [type: number]: number } = { 2: 0, 4: 0, 5: 0, 6: 2, 7: 0, 9: 0, 11: 0, 13: 0 };

/**
 * Check and unpack one inbound packet. `oversize` means `body` is only the
 * first bytes of a PUBLISH that was too large to keep: the topic and packet
 * id are read when present (so it can still be acknowledged), the payload is
 * empty.
 */
export function decode(first: number, body: string, oversize?: boolean): Packet {
  const type = first >> 4, flags = first & 15, n = body.length;
  const p: Packet = { type: type, id: 0 };
  if (type == PUBLISH) {
    const qos = flags >> 1 & 3, tl = readU16(body, 0), start = 2 + tl + (qos ? 2 : 0);
    if (qos == 3) throw protocolError("PUBLISH with QoS 3");
    if (n < 2 || (n < start && !oversize)) throw protocolError("PUBLISH shorter than its topic and packet id");
    const topic = fromUtf8(body.substr(2, tl));
    if (n >= 2 + tl) {
      if (!tl || topic == undefined || /[+#]/.test(topic)) {
        throw protocolError("PUBLISH topic is empty, not UTF-8 or has a wildcard");
      }
      p.topic = topic;
    }
    if (qos && n >= start) {
      p.id = readU16(body, start - 2);
      if (!p.id) throw protocolError("PUBLISH with packet id 0");
    }
    p.qos = qos;
    p.dup = !!(flags & 8);
    p.retain = !!(flags & 1);
    p.message = oversize ? "" : body.substr(start);
    return p;
  }
  if (FLAGS[type] !== flags) {
    throw protocolError(FLAGS[type] == undefined ? "a broker never sends packet type " + type
      : "reserved flags of packet type " + type + " are " + flags);
  }
  const expected = type == CONNACK ? 2 : type == PINGRESP ? 0 : type == SUBACK ? -1 : 2;
  if (expected >= 0 ? n != expected : n < 3) throw protocolError("packet type " + type + " has remaining length " + n);
  if (type == CONNACK) {
    const ack = body.charCodeAt(0), rc = body.charCodeAt(1);
    if (ack > 1) throw protocolError("CONNACK reserved flags set");
    if (rc > 5) throw protocolError("CONNACK return code " + rc + " is not defined");
    p.sessionPresent = !!ack;
    p.returnCode = rc;
    return p;
  }
  if (type != PINGRESP) {
    p.id = readU16(body, 0);
    if (!p.id) throw protocolError("packet type " + type + " with packet id 0");
  }
  if (type == SUBACK) {
    const g: number[] = [];
    for (let i = 2; i < n; i++) {
      const c = body.charCodeAt(i);
      if (c > 2 && c != 128) throw protocolError("SUBACK return code " + c + " is not defined");
      g.push(c);
    }
    p.granted = g;
  }
  return p;
}
