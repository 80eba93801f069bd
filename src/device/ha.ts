// Home Assistant discovery, the part that stays in memory (feature module mote-ha). mote.json:
// "homeassistant": true, or { "prefix": "homeassistant", "per_entity": false, "name": "..." }.
//
// It only listens: to Home Assistant's birth ("online" on <prefix>/status, which Home Assistant sends
// after subscribing to discovery), to the restart button (<base>/restart/set, payload PRESS), and to
// connects where the broker kept no session (on a board that sleeps, the first connect after a power-on
// or a lost session, not every wake). Each of those asks for an announce after a random
// 0.5..2 s (Home Assistant asks for a delay, so a fleet does not answer its birth all at once). The
// announce itself is another Storage module, mote-ha-announce (ha-announce.ts), required for the round
// and released at once: on a 1,600-variable board its code and the message it streams do not fit
// beside the runtime for good.
//
// Memory: module-level state and one function, no closure made at run time: every closure, and
// every variable of its scope, would stay for good.
import type { Mote } from "./mote.js";
import type { board as Board } from "../platform/board.js";

var M: Mote, B: typeof Board;
// Shared with mote-ha-announce: t the pending timer, r the round number (a newer round stops an older
// one still sending per-entity configs), b 1 when the pending round answers Home Assistant's birth
// (removals are then sent in the form that works after a Home Assistant restart), ok 1 once a round
// completed since boot.
var h = { t: 0 as any, r: 0, b: 0, ok: 0 };

// One function for everything (each function kept costs variables): the timer (t = 1), "connected"
// (t = sessionPresent, a boolean), and the two subscriptions (t = topic): <prefix>/status and
// <base>/restart/set, told apart by their ends.
function on(t: any, msg?: string) {
  var n: number;
  if (t === 1) {
    h.t = 0;
    // Before it can measure what writing the configs will take (then checked again), the round takes
    // about 330 variables with 4 sensors, 2 actuators and the diagnostics (measured on the 1,600-variable
    // build: its module 146, its lists of entities 80, measuring them up to 100 while it lasts), a few
    // more per entity, and saying there is no room about 70: not started without those.
    t = B.memory().free;
    n = 296 + 8 * (M.c.sensors.length + M.c.actuators.length + 7);
    if (t < n) {
      t = "homeassistant: no room to announce (" + t + " variables free, " + n + " needed)";
      M.log(t);
      M.client.publish(M.base + "/error", t, { qos: 1, retain: false });
      return;
    }
    try {
      B.module("mote-ha-announce").announce(M, B, h);
    } catch (x) {
      M.log("homeassistant: " + (x as Error).message);
    }
    // Released from the module cache: what a per-entity round still needs is held by its timer.
    Modules.removeCached("mote-ha-announce");
    return;
  }
  if (typeof t == "string" && t.slice(-4) == "/set") {
    if (msg == "PRESS") { M.log("restart requested"); M.stop(); B.after(B.reboot, 500); }
    return;
  }
  // A wake from deep sleep (mote-sleep) where the broker kept the session: it kept the retained
  // discovery too, and a round at every wake would cost a sleeping board its battery. Counted as done
  // (mote-sleep waits for a round until ok).
  if (t === true && M.wk) h.ok = 1;
  // A birth, or a connect where the broker kept no session (or none announced yet): a round after a
  // random 0.5..2 s; a newer request supersedes a round in progress.
  if (typeof t == "string" ? msg != "online" : t && h.ok) return;
  h.r++;
  if (typeof t == "string") h.b = 1;
  if (!h.t) h.t = B.after(on, 500 + Math.random() * 1500, 1);
}

export function startHa(m: Mote, b: typeof Board) {
  M = m; B = b;
  m.client.subscribe([(m.c.homeassistant.prefix || "homeassistant") + "/status", m.base + "/restart/set"], { qos: 0 }, on);
  m.client.on("connected", on);
  return h;
}
