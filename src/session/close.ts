// The "close" part: a connection the broker accepted has closed. Some brokers answer what they do
// not support by closing it: RabbitMQ a refused SUBSCRIBE, NATS a QoS 2 PUBLISH. Resending it after
// every reconnect would loop forever, so when the broker closes twice in a row with the same request
// unanswered, that request is given up: the filters are reported with `subscribe_failed`, and QoS 2
// messages go on at QoS 1 (still delivered, at least once).
import type { Client } from "./client.js";
import { PUBLISH, SUBSCRIBE, filtersOf } from "../protocol/codec.js";
import { fromUtf8 } from "../protocol/utf8.js";
import { drop } from "./sub.js";

export function closed(c: Client): void {
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
    for (let i = 0; i < f.length; i++) drop(c, fromUtf8(f[i]) as string, 0x80);
  } else if (q2) {
    c._q2off = 1;
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

/** A write failed: the socket closed before its queued "close" event reached the client. */
export function lost(c: Client, e: Error): void {
  c._close("connection lost", "socket", "write failed: " + e.message);
}
