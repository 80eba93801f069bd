// The "ctl" part: every inbound packet the resident client does not take itself (it takes
// PUBLISH at QoS 0/1 on a topic checked before, PUBACK and PINGRESP), checked in full by the
// codec's decode: CONNACK, QoS 2 handshakes both ways, SUBACK/UNSUBACK, and anything unusual or
// malformed (a ProtocolError thrown here closes the connection).
import type { Client } from "./client.js";
import {
  CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, Packet, decode, encodeAck, findId,
} from "../protocol/codec.js";
import { ack, renew } from "./sub.js";

// CONNACK return codes 1..5 as stable error codes.
const REFUSED = ",bad_protocol,id_rejected,server_unavailable,bad_credentials,not_authorized";

/**
 * A PUBLISH the resident client did not unpack (QoS 2, oversize, a topic not checked yet, or
 * malformed): the message to deliver, or undefined when there is none (a QoS 2 resend, an oversize
 * message: those are acknowledged here).
 */
export function publish(c: Client, first: number, body: string, oversize: boolean): Packet | undefined {
  const p = decode(first, body, oversize), id = p.id, qos = p.qos as number, topic = p.topic as string;
  if (!c._up) throw { code: "protocol", message: "packet type 3 before CONNACK" };
  // The topic passed the checks: later messages on it take the resident path.
  if (topic != undefined) { c._rfield = body.substr(0, 2 + (body.charCodeAt(0) << 8 | body.charCodeAt(1))); c._rtext = topic; }
  if (oversize) c._nOversize++, c._err("oversize", "dropped a message larger than max_packet on " + topic);
  // Exactly once: a QoS 2 id already acknowledged with PUBREC is a resend, not a new message.
  const rx = c._rx || (c._rx = []), fresh = qos < 2 || rx.indexOf(id) < 0;
  if (qos == 2 && fresh) rx.push(id);
  if (fresh && !oversize) return p;
  if (qos && id && c._up) c._write(encodeAck(qos == 2 ? PUBREC : PUBACK, id));
  return undefined;
}

/** Any packet from the broker but PUBLISH. */
export function control(c: Client, first: number, body: string, oversize: boolean): void {
  const p = decode(first, body, oversize), t = p.type, id = p.id, out = c._out;
  if (t == CONNACK) return connack(c, p);
  if (!c._up) throw { code: "protocol", message: "packet type " + t + " before CONNACK" };
  if (t == PUBACK || t == PUBREC || t == PUBCOMP) {
    const i = findId(out, id), e = out[i];
    if (t == PUBREC) {
      // Answer even an unknown PUBREC, or the broker would hold the message forever.
      const rel = encodeAck(PUBREL, id);
      if (e) out[i] = rel;
      c._write(rel);
    } else if (e && (e.charCodeAt(0) >> 4 == PUBLISH) == (t == PUBACK)) {
      // PUBACK settles a PUBLISH, also a QoS 2 one (RabbitMQ grants QoS 1 only); PUBCOMP a PUBREL.
      out.splice(i, 1);
      c._pump();
    }
  } else if (t == PUBREL) {
    // The message was delivered when it came; release its id. An unknown id is still answered.
    const rx = c._rx || [], k = rx.indexOf(id);
    if (k >= 0) rx.splice(k, 1);
    c._write(encodeAck(PUBCOMP, id));
  } else if (t == SUBACK || t == UNSUBACK) {
    ack(c, t, p);
  }
}

function connack(c: Client, p: Packet): void {
  const rc = p.returnCode as number;
  if (c._up) throw { code: "protocol", message: "second CONNACK" };
  const why = REFUSED.split(",")[rc];
  if (rc) return c._close("refused", why, "connection refused by broker: " + why + " (CONNACK " + rc + ")");
  c._up = 1;
  c._since = c._heard;
  // Announced before the resends below: if one of them finds the socket closed, the
  // "disconnected" that follows pairs with it.
  c.emit("connected", !!p.sessionPresent);
  if (!p.sessionPresent) {
    // A new session: the broker knows none of our subscriptions and QoS 2 ids.
    c._rx = undefined;
    renew(c);
  }
  // Unanswered requests, then unacknowledged messages, oldest first [MQTT-4.4.0-1]. A message
  // accepted by publish() is never dropped: into a new session (clean, or the broker lost it)
  // it goes as a first delivery, into the same session as a resend with DUP set [MQTT-3.3.1-1].
  const again = c._ctl.concat(c._out), dup = p.sessionPresent ? 8 : 0;
  for (let k = 0; k < again.length; k++) {
    const a = again[k];
    c._write(a.charCodeAt(0) >> 4 == PUBLISH ? String.fromCharCode(a.charCodeAt(0) | dup) + a.substr(1) : a);
  }
  c._pump();
}
