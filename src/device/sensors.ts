// Sensors: each one read every `every` seconds (one timer ticks for all of them: see tick()). A value is
// published on <base>/<name> (dht22: <base>/<name>/temperature and /humidity; bme280 also /pressure in hPa; scale and
// offset apply to the temperature) when it moved more than `deadband` since the last publish, or after
// `heartbeat` periods without one. A failed read publishes nothing and counts an error in s.e; it never
// stops the others. A `button` is not read on a timer: setWatch reports its edges (debounced, `debounce`
// ms, default 50) and each one is published at once on <base>/<name> as "pressed" or "released". With
// `multi_press` (ms) the presses of a series (each press starting within multi_press ms of the release
// before) are also counted, and the count goes on <base>/<name>/presses ("1", "2", ...) once the series
// is over: multi_press ms after its last release.
// A `user` sensor (added by mote.sensor() in the user's code, feature mote-script) is read through its
// function s.r (a value returned, or passed to the callback it gets).
// Defaults (config.schema.json) are applied here, not stored, and the state lives on the sensor's own
// config object, created as needed: v/w/x last published values, n periods since, e errors, h driver
// object, b read in progress, k ticks left until the next read; a multi_press button's c presses so far
// and p the timer that ends the series. Few properties per sensor: each costs variables on the board.
// With "sleep" (feature mote-sleep) no timers run: that feature reads each sensor once per wake through
// m.rd, and readings taken before the connection is up go to m.q, its store for the next connection.
import type { Mote } from "./mote.js";
import { rssi } from "./wifi.js";
import { board } from "../platform/board.js";

// The running device and the period of the shared sensor timer in ms (0: none). One timer ticks for all
// the sensors (each timer costs ~12 variables on the board, a countdown 1): each sensor counts down its
// own period in ticks in s.k and is read when it reaches 0. The tick is the periods' greatest common
// divisor, so every sensor keeps its exact period; when that is below 100 ms (periods such as 0.25 s
// and 0.33 s), the sensors get a timer each instead of a busy tick.
var M: Mote, T = 0;

// A value v (w, x: humidity and pressure) read from sensor s of the running device M.
function got(s: any, v: any, w?: number, x?: number) {
  var m = M, num = typeof v == "number", t = m.base + "/" + s.name, q = { qos: s.qos, retain: s.retain }, d = s.deadband || 0;
  // NaN is a failed read (E.getTemperature() where the chip has no sensor, a DHT checksum error, an
  // unwired analog pin on some boards; read() passes NaN for a driver's error or an exception): nothing
  // to publish, one more error counted, and the read is over.
  if ((num && isNaN(v)) || (w !== undefined && isNaN(w)) || (x !== undefined && isNaN(x))) { s.b = 0; s.e = (s.e || 0) + 1; return; }
  // Rounded to 3 decimals (inline: a helper function would cost its variables for good).
  if (num) v = Math.round((v * (s.scale === undefined ? 1 : s.scale) + (s.offset || 0)) * 1000) / 1000;
  if (w !== undefined) w = Math.round(w * 1000) / 1000;
  if (x !== undefined) x = Math.round(x * 1000) / 1000;
  if (s.v === undefined || ++s.n >= (s.heartbeat || 10) || (num ? Math.abs(v - s.v) > d : v !== s.v) ||
    (w !== undefined && Math.abs(w - s.w) > d) || (x !== undefined && Math.abs(x - s.x) > d)) {
    // Publish now, or hand to mote-sleep's store while not connected (without it: dropped).
    var P = m.up ? m.client : m.q;
    if (!P) return;
    if (w === undefined) P.publish(t, String(v), q);
    else {
      P.publish(t + "/temperature", String(v), q);
      P.publish(t + "/humidity", String(w), q);
      s.w = w;
      if (x !== undefined) { P.publish(t + "/pressure", String(x), q); s.x = x; }
    }
    s.v = v; s.n = 0;
  }
}

// Reads sensor s (timers, mote-sleep, mote-script). A button is not read: setWatch calls this with
// its edge e, and a multi_press button's timer with e = 1 when the series is over (no functions of
// their own: each costs variables on every board, buttons or not).
function read(m: Mote, s: any, e?: any) {
  var t = s.type, r: any;
  if (e) {
    r = m.up ? m.client : m.q;
    if (e === 1) {
      // Events, not states: never retained (a retained count would fire again at every subscribe).
      if (r) r.publish(m.base + "/" + s.name + "/presses", "" + s.c, { qos: s.qos });
      s.c = s.p = 0;
      return;
    }
    // Pulled up (pressed = low) unless active_high; every debounced edge is published at once.
    s.v = e.state == !!s.active_high ? "pressed" : "released";
    if (r) r.publish(m.base + "/" + s.name, s.v, { qos: s.qos, retain: s.retain });
    if (s.multi_press) {
      // A press within the window continues the series; its release opens the window again.
      if (s.p) board.cancel(s.p);
      s.p = 0;
      if (s.v == "pressed") s.c = (s.c || 0) + 1;
      else if (s.c) s.p = board.after(read, s.multi_press, m, s, 1);
    }
    return;
  }
  if (s.b) return;
  try {
    if (t == "dht22") {
      s.b = 1;
      (s.h || (s.h = board.driver("DHT22", s))).read(function (r: any) {
        s.b = 0;
        got(s, r.err ? NaN : r.temp, r.rh);
      });
    } else if (t == "ds18b20") {
      s.b = 1;
      (s.h || (s.h = board.driver("DS18B20", s))).getTemp(function (v: any) {
        s.b = 0;
        got(s, v === null || v === undefined ? NaN : v);
      });
    } else if (t == "bme280") {
      r = (s.h || (s.h = board.driver("BME280", s))).getData();
      got(s, r.temp, r.humidity, r.pressure);
    } else if (t == "user") {
      // The user's read is guarded by mote-script (its exceptions are reported there).
      r = s.r(function (v: any) { if (v !== undefined) got(s, v); });
      if (r !== undefined) got(s, r);
    } else got(s, t == "analog" ? board.analog(s.pin) : t == "digital" ? board.read(s.pin) == 1 :
      t == "internal-temperature" ? board.temperature() : t == "memory" ? board.memory().free :
      t == "uptime" ? board.seconds() - m.t0 : rssi(m));
  } catch (e) {
    got(s, NaN);
  }
}


function tick() {
  var l = M.c.sensors, i: number, s: any;
  // Only the sensors started below have s.k (user sensors added later run on their own timers).
  for (i = 0; i < l.length; i++) if ((s = l[i]).k && !--s.k) { s.k = Math.round((s.every || 60) * 1000 / T); read(M, s); }
}

// Runs once, at boot, and then lets its code go (runtime.ts says why).
export let startSensors = function (m: Mote) {
  startSensors = undefined as any;
  var l = m.c.sensors, i: number, s: any, timed: any[] = [], p: number, a: number, b: number;
  M = m;
  m.rd = read;
  for (i = 0; i < l.length; i++) {
    s = l[i];
    s.n = 0;
    // m.bad ends in "|": Espruino's indexOf reports a needle cut off at the string's end as found.
    if ((m.bad + "|").indexOf("sensors[" + i + "]") >= 0) continue;
    if (s.type == "button") {
      board.mode(s.pin, s.active_high ? "input_pulldown" : "input_pullup");
      board.watch(read.bind(null, m, s), s.pin, { repeat: true, edge: "both", debounce: s.debounce === undefined ? 50 : s.debounce });
    } else if (!m.c.sleep) {
      timed.push(s);
      // The greatest common divisor of the periods in ms so far (Euclid).
      for (a = T, b = p = Math.max(1, Math.round((s.every || 60) * 1000)); b; ) { p = a % b; a = b; b = p; }
      T = a;
    }
  }
  if (T && T < 100) {
    for (i = 0; i < timed.length; i++) board.every(read, (timed[i].every || 60) * 1000, m, timed[i]);
    T = 0;
  } else if (T) {
    for (i = 0; i < timed.length; i++) timed[i].k = Math.round((timed[i].every || 60) * 1000 / T);
    board.every(tick, T);
  }
};
