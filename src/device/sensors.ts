// Sensors: each one read every `every` seconds by its own timer. A value is published on
// <base>/<name> (dht22: <base>/<name>/temperature and /humidity; scale and offset apply to the
// temperature) when it moved more than `deadband` since the last publish, or after `heartbeat` periods
// without one. A failed read publishes nothing and counts an error in s.e; it never stops the others.
// Defaults (config.schema.json) are applied here, not stored, and the state lives on the sensor's own
// config object, created as needed: v/w last published values, n periods since, e errors, h driver
// object, b read in progress. Few properties per sensor: each costs variables on the board.
import type { Mote } from "./mote.js";
import { rssi } from "./wifi.js";
import { board } from "../platform/board.js";

function round(x: number) { return Math.round(x * 1000) / 1000; }

function got(m: Mote, s: any, v: any, w?: number) {
  var num = typeof v == "number", t = m.base + "/" + s.name, q = { qos: s.qos, retain: s.retain }, d = s.deadband || 0;
  // NaN is a failed read (E.getTemperature() where the chip has no sensor, a DHT checksum error, an
  // unwired analog pin on some boards): nothing to publish.
  if ((num && isNaN(v)) || (w !== undefined && isNaN(w))) return fail(s);
  if (num) v = round(v * (s.scale === undefined ? 1 : s.scale) + (s.offset || 0));
  if (w !== undefined) w = round(w);
  if (s.v === undefined || ++s.n >= (s.heartbeat || 10) || (num ? Math.abs(v - s.v) > d : v !== s.v) ||
    (w !== undefined && Math.abs(w - s.w) > d)) {
    if (!m.up) return;
    if (w === undefined) m.client.publish(t, String(v), q);
    else {
      m.client.publish(t + "/temperature", String(v), q);
      m.client.publish(t + "/humidity", String(w), q);
      s.w = w;
    }
    s.v = v; s.n = 0;
  }
}

function fail(s: any) { s.b = 0; s.e = (s.e || 0) + 1; }

function read(m: Mote, s: any) {
  var t = s.type;
  if (s.b) return;
  try {
    if (t == "dht22") {
      s.b = 1;
      (s.h || (s.h = board.driver("DHT22", s.pin))).read(function (r: any) {
        if (r.err) fail(s); else { s.b = 0; got(m, s, r.temp, r.rh); }
      });
    } else if (t == "ds18b20") {
      s.b = 1;
      (s.h || (s.h = board.driver("DS18B20", s.pin))).getTemp(function (v: any) {
        if (v === null || v === undefined) fail(s); else { s.b = 0; got(m, s, v); }
      });
    } else got(m, s, t == "analog" ? board.analog(s.pin) : t == "digital" ? board.read(s.pin) == 1 :
      t == "internal-temperature" ? board.temperature() : t == "memory" ? board.memory().free :
      t == "uptime" ? board.seconds() - m.t0 : rssi(m));
  } catch (e) {
    fail(s);
  }
}

export function startSensors(m: Mote) {
  var l = m.c.sensors, i: number;
  for (i = 0; i < l.length; i++) {
    l[i].n = 0;
    // m.bad ends in "|": Espruino's indexOf reports a needle cut off at the string's end as found.
    if ((m.bad + "|").indexOf("sensors[" + i + "]") < 0) board.every(read, (l[i].every || 60) * 1000, m, l[i]);
  }
}
