// Birth, will and errors: <status> is "online" (birth) or "error" (the config has errors, listed on
// <base>/error) after connecting, and "offline" from the broker's will on a lost connection or from
// the device itself before a deliberate disconnect. All retained, QoS 1. (The will itself is set where
// the client is made, in runtime.ts's start(): a function for it would stay resident for one call.)
import type { Mote } from "./mote.js";
import { echo } from "./actuators.js";

// On every (re)connection: birth, the config errors (an empty retained message clears old ones),
// and each actuator's state. A board waking from deep sleep (mote-sleep) published the errors and
// states before it slept and the broker retains them: it sends only the birth, and keeps its
// sensors' deadband state across connections.
export function online(m: Mote) {
  var c = m.client, q = { qos: 1, retain: true }, l = m.c.actuators, i: number;
  c.publish(m.c.status, m.errors.length ? "error" : "online", q);
  if (m.wk) return;
  c.publish(m.base + "/error", m.errors.join("\n"), q);
  for (i = 0; i < l.length; i++) if (!l[i].x) echo(m, l[i]);
  if (!m.c.sleep) for (i = 0; i < m.c.sensors.length; i++) delete m.c.sensors[i].v; // publish fresh values
}

// Deliberate stop, mote.stop(): say "offline" ourselves (the broker drops the will on DISCONNECT), then
// disconnect. A method of the mote object (`this`), so that it needs no closure over it.
export function offline(this: Mote) {
  if (this.up) this.client.publish(this.c.status, "offline", { qos: 1, retain: true });
  this.client.disconnect();
}
