// The "sub" part: subscribe() and unsubscribe() (filters checked, SUBSCRIBE/UNSUBSCRIBE sent),
// their acks, and the subscriptions sent again into a new session. A board needs it at start and
// after a reconnect, and forgets it in between.
import type { Client, Handler } from "./client.js";
import { SUBSCRIBE, SUBACK, UNSUBACK, Packet, encodeSubscription, filtersOf, findId } from "../protocol/codec.js";
import { topicError } from "../protocol/topic.js";
import { fromUtf8, toUtf8 } from "../protocol/utf8.js";

/** Our filters and their granted QoS (made on first use). */
export function subs(c: Client): { [filter: string]: number } {
  return c._subs || (c._subs = {});
}

/**
 * subscribe("a/+") | subscribe(["a","b"], {qos}) | subscribe({"a": 1, "b": 2});
 * an optional handler gets only the messages matching these filters.
 */
export function subscribe(c: Client, filters: string | string[] | { [filter: string]: number },
  opts?: { qos?: number } | Handler, handler?: Handler): boolean {
  if (typeof opts == "function") { handler = opts; opts = undefined; }
  const list: string[] = [], qos: number[] = [];
  if (typeof filters == "string") filters = [filters];
  if (Array.isArray(filters)) {
    for (let i = 0; i < filters.length; i++) { list.push(filters[i]); qos.push(opts && opts.qos || 0); }
  } else {
    for (const f in filters) { list.push(f); qos.push(filters[f]); }
  }
  return request(c, list, qos, handler);
}

export function unsubscribe(c: Client, filters: string | string[]): boolean {
  return request(c, typeof filters == "string" ? [filters] : filters);
}

/** SUBSCRIBE (with `qos`) or UNSUBSCRIBE the filters, after checking them all. */
function request(c: Client, list: string[], qos?: number[], handler?: Handler): boolean {
  const bytes: string[] = [], s = subs(c);
  for (let i = 0; i < list.length; i++) {
    const q = qos ? qos[i] : 0, why = topicError(list[i], true) || (q >= 0 && q <= 2 && !(q % 1) ? "" : "qos must be 0, 1 or 2");
    if (why) return c._err("invalid_filter", list[i] + ": " + why);
    bytes.push(toUtf8(list[i]) as string);
  }
  if (!list.length) return c._err("invalid_filter", "no topic filter given");
  for (let i = 0; i < list.length; i++) {
    const f = list[i];
    if (qos) s[f] = qos[i]; else delete s[f];
    if (qos && handler) (c._hs || (c._hs = {}))[f] = handler; else if (c._hs) delete c._hs[f];
  }
  // Waits in _ctl for its ack; sent now, or after the next CONNACK.
  const p = encodeSubscription(c._nextId(), bytes, qos);
  c._ctl.push(p);
  if (c._up) c._write(p);
  return true;
}

/** A filter given up (refused by the broker): it is not ours any more. */
export function drop(c: Client, f: string, code: number): void {
  delete subs(c)[f];
  if (c._hs) delete c._hs[f];
  c.emit("subscribe_failed", f, code);
}

/** SUBACK or UNSUBACK (type `t`). */
export function ack(c: Client, t: number, p: Packet): void {
  const k = findId(c._ctl, p.id), req = c._ctl[k], g = p.granted || [], s = subs(c);
  if (!req || (req.charCodeAt(0) >> 4 == SUBSCRIBE) != (t == SUBACK)) return;
  const filters = filtersOf(req);
  // One return code per filter, in order [MQTT-3.9.3-1]; a shorter list would report "undefined".
  if (t == SUBACK && g.length != filters.length) throw { code: "protocol", message: "SUBACK has " + g.length + " return codes for " + filters.length + " filters" };
  c._ctl.splice(k, 1);
  for (let j = 0; j < filters.length; j++) {
    const f = fromUtf8(filters[j]) as string;
    if (t == UNSUBACK) c.emit("unsubscribed", f);
    // Refused (0x80, or ejabberd's 0x8F).
    else if (!(g[j] <= 2)) drop(c, f, g[j]);
    else {
      if (s[f] != undefined) s[f] = g[j];
      c.emit("subscribed", f, g[j]);
    }
  }
}

/**
 * A new session: the broker knows none of our subscriptions. Pending SUBSCRIBEs are replaced by
 * one SUBSCRIBE per filter, so a broker refusing one filter cannot take the others with it.
 */
export function renew(c: Client): void {
  const ctl = c._ctl, s = c._subs || {};
  for (let k = ctl.length - 1; k >= 0; k--) if (ctl[k].charCodeAt(0) >> 4 == SUBSCRIBE) ctl.splice(k, 1);
  for (const k in s) ctl.push(encodeSubscription(c._nextId(), [toUtf8(k) as string], [s[k]]));
}
