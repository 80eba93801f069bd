// The "pub" part: every publish() that is not the common case the resident client handles itself
// (a topic that needs the full check, QoS 2, an invalid QoS, offline), the queue-full refusal, and
// messages that are neither byte strings nor numbers.
import type { Client } from "./client.js";
import { encodePublish, field } from "../protocol/codec.js";
import { topicError } from "../protocol/topic.js";
import { toUtf8 } from "../protocol/utf8.js";
import { toBytes } from "./bytes.js";

export { toBytes };

/** publish() in full: false (and an `error` event) when the message cannot be accepted. */
/** An error for a message refused: counted as dropped. */
function refuse(c: Client, code: string, message: string): false {
  c._nDropped++;
  return c._err(code, message);
}

export function publish(c: Client, topic: string, message: unknown, opts?: { qos?: number; retain?: boolean }): boolean {
  let qos = opts && opts.qos || 0;
  if (qos == 2 && c._q2off) qos = 1;
  if (topic !== c._topic) {
    const why = topicError(topic, false);
    if (why) return refuse(c, "invalid_topic", why);
    c._topic = topic;
    c._tfield = field(toUtf8(topic) as string);
  }
  if (!(qos >= 0 && qos <= 2 && !(qos % 1))) return refuse(c, "invalid_qos", "qos must be 0, 1 or 2");
  if (!qos && !c._up) return refuse(c, "offline", "not connected: QoS 0 message dropped");
  const now = !c._q.length && c._up && c._busy < c._maxOut && (!qos || c._out.length < c._maxIn);
  if (!now) c._held = 1;
  if (!now && c._q.length >= c._maxQ) return full(c);
  const p = encodePublish(c._tfield, toBytes(message), qos, !!(opts && opts.retain), qos ? c._nextId() : 0);
  if (!now) c._q.push(p);
  else {
    c._nSent++;
    if (qos) c._out.push(p);
    c._write(p);
  }
  return true;
}

/** The refusal of a message when the inflight window and the queue are full. */
export function full(c: Client): false {
  return refuse(c, "queue_full", "inflight (" + c._maxIn + ") and queue (" + c._maxQ + ") are full");
}
