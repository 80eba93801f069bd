// Sensors: each one read every `every` seconds by its own timer. A value is published on
// <base>/<name> (dht22: <base>/<name>/temperature and /humidity; bme280 also /pressure in hPa; scale and
// offset apply to the temperature) when it moved more than `deadband` since the last publish, or after
// `heartbeat` periods without one. A failed read publishes nothing and counts an error in s.e; it never
// stops the others. A `button` is not read on a timer: setWatch reports its edges (debounced, `debounce`
// ms, default 50) and each one is published at once on <base>/<name> as "pressed" or "released".
// A `user` sensor (added by mote.sensor() in the user's code, feature mote-script) is read through its
// function s.r (a value returned, or passed to the callback it gets).
// Defaults (config.schema.json) are applied here, not stored, and the state lives on the sensor's own
// config object, created as needed: v/w/x last published values, n periods since, e errors, h driver
// object, b read in progress. Few properties per sensor: each costs variables on the board.
// With "sleep" (feature mote-sleep) no timers run: that feature reads each sensor once per wake through
// m.rd, and readings taken before the connection is up go to m.q, its store for the next connection.
import type { Mote } from "./mote.js";
import { rssi } from "./wifi.js";
import { board } from "../platform/board.js";

function round(x: number) { return Math.round(x * 1000) / 1000; }

// Publish now, or hand to mote-sleep's store while not connected (nothing without it: dropped).
function send(m: Mote, t: string, v: any, q: any) {
  if (m.up) m.client.publish(t, String(v), q); else m.q(t, String(v), q);
}

function got(m: Mote, s: any, v: any, w?: number, x?: number) {
  var num = typeof v == "number", t = m.base + "/" + s.name, q = { qos: s.qos, retain: s.retain }, d = s.deadband || 0;
  // NaN is a failed read (E.getTemperature() where the chip has no sensor, a DHT checksum error, an
  // unwired analog pin on some boards): nothing to publish.
  if ((num && isNaN(v)) || (w !== undefined && isNaN(w)) || (x !== undefined && isNaN(x))) return fail(s);
  if (num) v = round(v * (s.scale === undefined ? 1 : s.scale) + (s.offset || 0));
  if (w !== undefined) w = round(w);
  if (x !== undefined) x = round(x);
  if (s.v === undefined || ++s.n >= (s.heartbeat || 10) || (num ? Math.abs(v - s.v) > d : v !== s.v) ||
    (w !== undefined && Math.abs(w - s.w) > d) || (x !== undefined && Math.abs(x - s.x) > d)) {
    if (!m.up && !m.q) return;
    if (w === undefined) send(m, t, v, q);
    else {
      send(m, t + "/temperature", v, q);
      send(m, t + "/humidity", w, q);
      s.w = w;
      if (x !== undefined) { send(m, t + "/pressure", x, q); s.x = x; }
    }
    s.v = v; s.n = 0;
  }
}

function fail(s: any) { s.b = 0; s.e = (s.e || 0) + 1; }

function read(m: Mote, s: any) {
  var t = s.type, r: any;
  if (s.b) return;
  try {
    if (t == "dht22") {
      s.b = 1;
      (s.h || (s.h = board.driver("DHT22", s))).read(function (r: any) {
        if (r.err) fail(s); else { s.b = 0; got(m, s, r.temp, r.rh); }
      });
    } else if (t == "ds18b20") {
      s.b = 1;
      (s.h || (s.h = board.driver("DS18B20", s))).getTemp(function (v: any) {
        if (v === null || v === undefined) fail(s); else { s.b = 0; got(m, s, v); }
      });
    } else if (t == "bme280") {
      r = (s.h || (s.h = board.driver("BME280", s))).getData();
      got(m, s, r.temp, r.humidity, r.pressure);
    } else if (t == "user") {
      // The user's read is guarded by mote-script (its exceptions are reported there).
      r = s.r(function (v: any) { if (v !== undefined) got(m, s, v); });
      if (r !== undefined) got(m, s, r);
    } else got(m, s, t == "analog" ? board.analog(s.pin) : t == "digital" ? board.read(s.pin) == 1 :
      t == "internal-temperature" ? board.temperature() : t == "memory" ? board.memory().free :
      t == "uptime" ? board.seconds() - m.t0 : rssi(m));
  } catch (e) {
    fail(s);
  }
}

// A button: pulled up (pressed = low) unless active_high; every debounced edge is published at once.
function button(m: Mote, s: any) {
  var hi = !!s.active_high;
  board.mode(s.pin, hi ? "input_pulldown" : "input_pullup");
  board.watch(function (e: any) {
    s.v = e.state == hi ? "pressed" : "released";
    if (m.up || m.q) send(m, m.base + "/" + s.name, s.v, { qos: s.qos, retain: s.retain });
  }, s.pin, { repeat: true, edge: "both", debounce: s.debounce === undefined ? 50 : s.debounce });
}

export function startSensors(m: Mote) {
  var l = m.c.sensors, i: number, s: any;
  m.rd = read;
  for (i = 0; i < l.length; i++) {
    s = l[i];
    s.n = 0;
    // m.bad ends in "|": Espruino's indexOf reports a needle cut off at the string's end as found.
    if ((m.bad + "|").indexOf("sensors[" + i + "]") >= 0) continue;
    if (s.type == "button") button(m, s);
    else if (!m.c.sleep) board.every(read, (s.every || 60) * 1000, m, s);
  }
}
