// Actuators: set from `initial` at boot, commanded on <base>/<name>/set, state echoed retained on
// <base>/<name> (digital 1/0, pwm 0..1). Accepted commands: 1/0, true/false, on/off (any case); pwm
// also a number 0..1 or a percentage 0..100%. Anything else leaves the state as it was and is
// reported on <base>/rejected (not retained), apart from the config errors on <base>/error (retained,
// what the device is set up with). A retained command (delivered on (re)subscribing) is applied only with
// restore: true. Defaults (config.schema.json) are applied here, not stored. State: a.v, the
// current value 0..1; a.x set on an actuator skipped for config errors.
import type { Mote } from "./mote.js";
import { board } from "../platform/board.js";

function apply(a: any, v: number) {
  a.v = v;
  if (a.type == "pwm") board.pwm(a.pin, a.invert ? 1 - v : v, a.freq ? { freq: a.freq } : undefined);
  else board.write(a.pin, a.invert ? 1 - v : v);
}

export function echo(m: Mote, a: any) {
  m.client.publish(m.base + "/" + a.name, String(a.v), { qos: a.qos === undefined ? 1 : a.qos, retain: true });
}

// The running device (set by startActuators): command() is one module-level function shared by every
// actuator's subscription, not a closure made at run time (that would stay for good with its scope).
var M: Mote;

// Also the client's "publish" listener on a wake from deep sleep (mote-sleep): the broker kept the
// subscriptions in the session, none is sent again (mote-sleep subscribes when the session was lost),
// and commands queued while the board slept arrive as plain messages: command(packet).
function command(topic: any, msg?: string, p?: any) {
  var m = M, l = m.c.actuators, j: number, b: any, t: string, v: any, pct: boolean, n: number;
  if (typeof topic == "object") { p = topic; msg = p.message; topic = p.topic; }
  for (j = 0; j < l.length; j++) if (m.base + "/" + l[j].name + "/set" == topic) b = l[j];
  // b.r: an actuator of the user's code (mote-script), which obeys its own subscription.
  if (!b || b.r || (p && p.retain && !b.restore)) return;
  t = String(msg).trim().toLowerCase();
  if (t == "1" || t == "true" || t == "on") v = 1;
  else if (t == "0" || t == "false" || t == "off") v = 0;
  else if (b.type == "pwm" && t) {
    pct = t.charAt(t.length - 1) == "%";
    n = Number(pct ? t.slice(0, -1) : t);
    if (n >= 0 && n <= (pct ? 100 : 1)) v = pct ? n / 100 : n;
  }
  if (v === undefined) {
    m.client.publish(m.base + "/rejected", b.name + ": rejected " + JSON.stringify(String(msg)) + " (expected 1/0, true/false, on/off" +
      (b.type == "pwm" ? ", 0..1 or 0..100%)" : ")"), { qos: 0, retain: false });
  } else {
    apply(b, v);
    echo(m, b);
  }
}

// Runs once, at boot, and then lets its code go (runtime.ts says why).
export let startActuators = function (m: Mote) {
  startActuators = undefined as any;
  var l = m.c.actuators, i: number, a: any;
  M = m;
  if (m.wk) m.client.on("publish", command);
  for (i = 0; i < l.length; i++) {
    a = l[i];
    // "|" ends the haystack: Espruino's indexOf reports a needle cut off at the string's end as found.
    if ((m.bad + "|").indexOf("actuators[" + i + "]") >= 0) { a.x = 1; continue; }
    try { apply(a, +(a.initial || 0)); } catch (e) { m.log("actuator " + a.name + ": " + e); }
    if (!m.wk) m.client.subscribe(m.base + "/" + a.name + "/set", { qos: a.qos === undefined ? 1 : a.qos }, command);
  }
};
