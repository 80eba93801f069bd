// The "match" part: calls the handlers given to subscribe() for a message whose topic matches
// their filter. Loaded (and kept) by the resident client once a subscription has a handler.
import type { Client } from "./client.js";
import type { Packet } from "../protocol/codec.js";
import { topicMatches } from "../protocol/topic.js";

export function dispatch(c: Client, p: Packet): void {
  const topic = p.topic as string, m = p.message as string, hs = c._hs || {};
  for (const f in hs) {
    const h = hs[f];
    if (topicMatches(f, topic)) {
      try {
        h(topic, m, p);
      } catch (x) {
        c._err("handler", "handler of " + f + " threw: " + (x as Error).message);
      }
    }
  }
}
