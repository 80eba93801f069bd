// MQTT 3.1.1 control packets <-> binary strings (one char per byte).
// Encoders build the packets a client sends; `decode` checks and unpacks the
// packets a broker may send and throws a ProtocolError for anything else.
//
// On the board every top-level function costs about six variables, so the
// encoders share a few helpers instead of one function per packet type.
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
  // PUBLISH (the field names of the client's "publish" event)
  topic?: string;      // decoded text
  message?: string;    // payload bytes
  qos?: number;
  retain?: boolean;
  dup?: boolean;
  // SUBACK
  granted?: number[];
}

/** Thrown by `decode` and the Framer for bytes no conforming broker sends. */
export interface ProtocolError { code: "protocol"; message: string }

export const u16 = (n: number) => String.fromCharCode(n >> 8 & 255, n & 255);
/** An MQTT length-prefixed field; `bytes` is already UTF-8 or binary. */
export const field = (bytes: string) => u16(bytes.length) + bytes;

/** Fixed header (first byte + remaining length in 1-4 bytes, 7 bits each, low first) + body. */
export function frame(first: number, body: string): string {
  let n = body.length, len = "";
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

/**
 * PUBLISH; `topicField` is the topic as a length-prefixed field,
 * field(UTF-8 bytes), which a client publishing the same topic again keeps.
 * `id` is left out at QoS 0.
 */
export function encodePublish(topicField: string, payload: string, qos: number, retain: boolean, id: number): string {
  return frame(PUBLISH << 4 | qos << 1 | (retain ? 1 : 0), topicField + (qos ? u16(id) : "") + payload);
}

/** PUBACK, PUBREC, PUBREL (reserved flags 0010 [MQTT-3.6.1-1]) or PUBCOMP. */
export function encodeAck(type: number, id: number): string {
  return frame(type << 4 | (type == PUBREL ? 2 : 0), u16(id));
}

/**
 * SUBSCRIBE when `qos` (one per filter) is given, else UNSUBSCRIBE; both have
 * flags 0010 [MQTT-3.8.1-1, MQTT-3.10.1-1]. Filters are UTF-8 bytes.
 */
export function encodeSubscription(id: number, filters: string[], qos?: number[]): string {
  let body = u16(id);
  for (let i = 0; i < filters.length; i++) body += field(filters[i]) + (qos ? String.fromCharCode(qos[i]) : "");
  return frame((qos ? SUBSCRIBE : UNSUBSCRIBE) << 4 | 2, body);
}

/**
 * Index in `list` of the encoded PUBLISH (QoS > 0), PUBREL, SUBSCRIBE or
 * UNSUBSCRIBE with packet identifier `id`, or -1.
 */
export function findId(list: string[], id: number): number {
  // Declared here, not in the loop: on Espruino a let/const inside a block makes a scope object each time.
  let p: string, i: number;
  for (let k = 0; k < list.length; k++) {
    p = list[k];
    i = 1;
    while (p.charCodeAt(i++) & 128); // skip the remaining length
    if (p.charCodeAt(0) >> 4 == PUBLISH) i += 2 + (p.charCodeAt(i) << 8 | p.charCodeAt(i + 1));
    if ((p.charCodeAt(i) << 8 | p.charCodeAt(i + 1)) == id) return k;
  }
  return -1;
}

/** Filters (UTF-8 bytes) listed in an encoded SUBSCRIBE or UNSUBSCRIBE. */
export function filtersOf(p: string): string[] {
  const out: string[] = [], qosBytes = p.charCodeAt(0) >> 4 == SUBSCRIBE ? 1 : 0;
  let i = 1;
  while (p.charCodeAt(i++) & 128);
  for (i += 2; i < p.length;) {
    const len = p.charCodeAt(i) << 8 | p.charCodeAt(i + 1);
    out.push(p.substr(i + 2, len));
    i += 2 + len + qosBytes;
  }
  return out;
}

// Inbound topics repeat (a stream of readings, a command topic), and the UTF-8 and wildcard checks
// run on Espruino's slow regular expressions: the last topic that passed them is remembered.
// Only valid topics are ever remembered.
let lastRaw: string | undefined, lastTopic = "";

/**
 * Check and unpack one inbound packet. `oversize` means `body` is only the
 * first bytes of a packet too large to keep: of a PUBLISH the topic and packet
 * id are read when present (so it can still be acknowledged), the message is
 * left empty. Errors are thrown as object literals: a helper closure here
 * would be allocated for every packet on the board.
 */
export function decode(first: number, body: string, oversize?: boolean): Packet {
  const type = first >> 4, flags = first & 15, n = body.length;
  // On the board every call reads the function's whole text: PUBLISH, the
  // packet that comes by the thousand, is decoded here and the rest elsewhere.
  if (type != PUBLISH) return decodeControl(type, flags, body, !!oversize);
  const qos = flags >> 1 & 3, tl = body.charCodeAt(0) << 8 | body.charCodeAt(1), start = 2 + tl + (qos ? 2 : 0);
  let topic: string | undefined, id = 0;
  if (qos == 3) throw { code: "protocol", message: "PUBLISH with QoS 3" } as ProtocolError;
  if (!qos && flags & 8) throw { code: "protocol", message: "PUBLISH with QoS 0 and DUP set" } as ProtocolError; // [MQTT-3.3.1-2]
  if (n < 2 || (n < start && !oversize)) throw { code: "protocol", message: "PUBLISH shorter than its topic and packet id" } as ProtocolError;
  if (n >= 2 + tl) {
    const raw = body.substr(2, tl);
    if (raw !== lastRaw) {
      const text = fromUtf8(raw);
      // [MQTT-1.5.3-1, MQTT-1.5.3-2, MQTT-3.3.2-2, MQTT-4.7.3-1]
      if (!tl || text == undefined || /[+#]/.test(text)) throw { code: "protocol", message: "PUBLISH topic is empty, not UTF-8 or has a wildcard" } as ProtocolError;
      lastRaw = raw;
      lastTopic = text;
    }
    topic = lastTopic;
  }
  if (qos && n >= start) {
    id = body.charCodeAt(start - 2) << 8 | body.charCodeAt(start - 1);
    if (!id) throw { code: "protocol", message: "PUBLISH with packet id 0" } as ProtocolError;
  }
  // One literal: on the board each property added afterwards is a search through those already there.
  const p: Packet = { type: PUBLISH, id: id, topic: topic, qos: qos, dup: !!(flags & 8), retain: !!(flags & 1),
    message: oversize ? "" : body.substr(start) };
  if (topic == undefined) delete p.topic; // an oversize packet cut short of its topic
  return p;
}

/** `decode` for every type but PUBLISH. */
function decodeControl(type: number, flags: number, body: string, oversize: boolean): Packet {
  const n = body.length, p: Packet = { type: type, id: 0 };
  // Types a broker sends besides PUBLISH, as bits: CONNACK, PUBACK, PUBREC,
  // PUBREL, PUBCOMP, SUBACK, UNSUBACK, PINGRESP.
  if (!(0x2af4 >> type & 1)) throw { code: "protocol", message: "a broker never sends packet type " + type } as ProtocolError;
  // Reserved flags are 0000, for PUBREL 0010 [MQTT-2.2.2-1, MQTT-2.2.2-2].
  if (flags != (type == PUBREL ? 2 : 0)) throw { code: "protocol", message: "reserved flags of packet type " + type + " are " + flags } as ProtocolError;
  if (oversize || (type == SUBACK ? n < 3 : n != (type == PINGRESP ? 0 : 2))) {
    throw { code: "protocol", message: "packet type " + type + " has remaining length " + (oversize ? "over max_packet" : n) } as ProtocolError;
  }
  if (type == CONNACK) {
    const ack = body.charCodeAt(0), rc = body.charCodeAt(1);
    if (ack > 1) throw { code: "protocol", message: "CONNACK reserved flags set" } as ProtocolError;
    if (rc > 5) throw { code: "protocol", message: "CONNACK return code " + rc + " is not defined" } as ProtocolError;
    p.sessionPresent = !!ack;
    p.returnCode = rc;
  } else if (type != PINGRESP) {
    p.id = body.charCodeAt(0) << 8 | body.charCodeAt(1);
    if (!p.id) throw { code: "protocol", message: "packet type " + type + " with packet id 0" } as ProtocolError;
    if (type == SUBACK) {
      const g: number[] = [];
      for (let i = 2; i < n; i++) {
        const c = body.charCodeAt(i);
        // 0x80 is the failure code; ejabberd sends 0x8F, also read as a refusal.
        if (c > 2 && c < 128) throw { code: "protocol", message: "SUBACK return code " + c + " is not defined" } as ProtocolError;
        g.push(c);
      }
      p.granted = g;
    }
  }
  return p;
}
