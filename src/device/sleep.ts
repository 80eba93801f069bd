// Battery boards (feature module mote-sleep), loaded when mote.json has "sleep": {"every": 300, "awake": 10}.
// One cycle per wake:
//   wake -> read every sensor once (readings wait in a store until connected) -> join WiFi -> connect with
//   a persistent session (runtime.ts sets clean_session false) so that commands sent while the board slept
//   arrive now -> publish the readings -> wait for their acknowledgements and the queued commands ->
//   publish the retained status "sleeping" (not "offline": the board is doing what it should) ->
//   DISCONNECT (the broker drops the will) -> deep sleep until `every` seconds after this wake.
// The whole cycle is bounded by `awake` seconds from the wake: a WiFi or broker that cannot be reached
// costs that long at most, and the readings not sent are kept for the next cycle (the newest
// limits.queue of them).
// A retained "1" on <base>/stay keeps the board awake and connected, its sensors read on their timers,
// for maintenance (OTA, a config change); anything else there ("", "0") lets it sleep again.
//
// Wake or power-on: ESP32.getWakeupCause() (0: not a wake) / ESP8266.getResetInfo().reason ("deep
// sleep"). On a wake the broker still has the session and the retained states: the runtime then
// subscribes nothing again and publishes only its birth (m.wk); without a session we subscribe here.
//
// What survives a sleep: cycle count, failed cycles, each sensor's deadband state (last values, periods
// since), readings not yet sent. Neither Espruino build gives JavaScript the RTC memory, so it lives in
// Storage, in one file created at SIZE bytes (erased flash) and filled one record (a JSON line) per cycle
// at the end of the last one: writing into erased bytes needs no erase, so a cycle costs one small flash
// write and an erase comes once per file-full of records, when the file is created again.
import type { Mote } from "./mote.js";
import type { board as Board } from "../platform/board.js";

// The board's platform object, given by runtime.ts's feature() (no copy of board.ts in this bundle).
var board: typeof Board;

var FILE = "mote.sleep", SIZE = 4096;

// The last record of the state file and where the next one goes (the first erased byte).
function load(): any {
  var d = board.readText(FILE), e: number, r: any;
  if (!d) return { o: -1 };
  e = d.indexOf("\xff");
  if (e < 0) e = d.length;
  try { r = JSON.parse(d.substring(d.lastIndexOf("\n", e - 2) + 1, e - 1)); } catch (x) { r = {}; }
  r.o = e;
  return r;
}

function save(r: any, at: number) {
  // \xff would read as erased flash: escaped (JSON.parse gives it back).
  var t = JSON.stringify(r).replace(/\xff/g, "\\u00ff") + "\n";
  if (at < 0 || at + t.length > SIZE) board.writeText(FILE, t, 0, SIZE); else board.writeText(FILE, t, at);
}

export function startSleep(m: Mote, b: typeof Board) {
  board = b;
  var c = m.client, cfg = m.c.sleep, every = cfg.every, awake = Math.min(cfg.awake || 10, every),
    st = load(), chip: any, woke = false, q: any[], stay = 0, sent = 0, last = 0, timers = 0, done = 0,
    max = m.c.limits.queue, stayT = m.base + "/stay";
  try {
    // The chip's own module: deep sleep and the wake-up cause.
    chip = board.module(process.env.BOARD.indexOf("ESP8266") ? "ESP32" : "ESP8266");
    woke = chip.getWakeupCause ? chip.getWakeupCause() != 0 : chip.getResetInfo().reason == "deep sleep";
  } catch (x) { /* no chip module (Espruino on Linux): always a power-on, no deep sleep */ }
  m.wk = woke;
  if (!woke) st = { o: st.o, n: 0, f: 0 };
  q = st.q || [];
  m.log("sleep: " + (woke ? "woke for cycle " + st.n : "power-on") + (q.length ? ", " + q.length + " readings kept" : ""));
  // Readings taken while not connected: kept in order, the newest `max`.
  m.q = {
    publish: function (t: string, v: string, o: any) {
      q.push([t.substr(m.base.length + 1), v, o.qos || 0, o.retain ? 1 : 0]);
      if (q.length > max) q.shift();
    },
  };
  function heard() { last = board.seconds(); }
  c.on("message", function (t: string, v: string) {
    var l = m.c.sensors, k: number;
    heard();
    if (t != stayT) return;
    stay = v == "1" ? 1 : 0;
    if (!stay) return;
    m.log("sleep: staying awake (" + stayT + " is 1)");
    // Awake for maintenance: the sensors run on their timers until stay is cleared.
    if (!timers) for (timers = 1, k = 0; k < l.length; k++) if (l[k].type != "button") board.every(m.rd, (l[k].every || 60) * 1000, m, l[k]);
    if (sent) { c.publish(m.c.status, m.errors.length ? "error" : "online", { qos: 1, retain: true }); sent = 0; }
  });
  c.on("subscribed", heard);
  c.on("connected", function (session: boolean) {
    var l = m.c.actuators, k: number, r: any;
    heard();
    // The session is gone (first connect, or the broker lost it): subscribe to the commands again.
    if (!session) {
      c.subscribe(stayT, { qos: 1 });
      if (woke) for (k = 0; k < l.length; k++) if (!l[k].x && !l[k].r) c.subscribe(m.base + "/" + l[k].name + "/set", { qos: l[k].qos === undefined ? 1 : l[k].qos });
    }
    while (q.length) {
      r = q.shift();
      c.publish(m.base + "/" + r[0], r[1], { qos: r[2], retain: !!r[3] });
    }
  });
  // Sleep when everything is done: connected, the sensors read, nothing unacknowledged and no message
  // for 50 ms (the broker sends queued commands and retained ones in a burst), then "sleeping" acknowledged.
  function tick() {
    var s = c.stats(), now = board.seconds(), l = m.c.sensors, k: number;
    if (stay || done) return;
    if (now - m.t0 >= awake) return down("after " + awake + " s awake");
    if (!m.up || s.inflight || s.queued) return;
    // Home Assistant's round (mote-ha, 0.5..2 s after the connect) done before sleeping, within awake:
    // else a board that sleeps would never be discovered.
    if (m.f && m.f.ha && !m.f.ha.ok) return;
    if (sent) return down("");
    if (now - last < 0.05) return;
    for (k = 0; k < l.length; k++) if (l[k].b) return;
    sent = 1;
    c.publish(m.c.status, "sleeping", { qos: 1, retain: true });
  }
  function down(why: string) {
    var l = m.c.sensors, k: number, s: any = {}, us = Math.max(1, every - (board.seconds() - m.t0)) * 1e6;
    done = 1;
    for (k = 0; k < l.length; k++) if (l[k].v !== undefined) s[l[k].name] = [l[k].v, l[k].w, l[k].n, l[k].x];
    save({ n: st.n + 1, f: (st.f || 0) + (sent ? 0 : 1), s: s, q: q }, st.o);
    m.log("sleep: " + (why ? why + ", " : "") + "sleeping " + Math.round(us / 1e6) + " s" + (q.length ? " with " + q.length + " readings kept" : ""));
    c.disconnect();
    // The DISCONNECT must leave the radio before it goes off.
    board.after(function () {
      try { chip.deepSleep(us); } catch (x) { m.log("sleep: no deep sleep on this board"); }
    }, 50);
  }
  board.every(tick, 20);
  // After start() has set up the sensors (and the user's code its own): restore each one's deadband
  // state, then read them all once.
  board.after(function () {
    var l = m.c.sensors, k: number, r: any;
    for (k = 0; k < l.length; k++) {
      r = st.s && st.s[l[k].name];
      if (r) { l[k].v = r[0]; l[k].w = r[1]; l[k].n = r[2]; l[k].x = r[3]; }
      if (l[k].type != "button" && (m.bad + "|").indexOf("sensors[" + k + "]") < 0) m.rd(m, l[k]);
    }
  }, 0);
}
