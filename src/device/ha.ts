// Home Assistant MQTT discovery (feature module mote-ha). mote.json: "homeassistant": true, or
// { "prefix": "homeassistant", "per_entity": false, "name": "..." }.
//
// Device mode (HA 2024.11+): one retained config on <prefix>/device/<node>/config with dev, o, avty
// and cmps (one component per entity). Per-entity mode: one retained config per entity on
// <prefix>/<component>/<node>/<key>/config. <node> is the client id and <key> the item's name, both
// with every character outside [a-zA-Z0-9_-] made "_": stable across reboots and config edits that
// keep the name. Availability is the status topic, where only "offline" counts as unavailable (so
// "error" and the battery feature's "sleeping" keep the entities available with their last state).
//
// Payloads declared are those the board already publishes and accepts: digital sensors "true"/"false",
// digital actuators "1"/"0" (command and echo), pwm actuators as a number 0..1 (sent as "0.5", "1").
// Diagnostic entities read <base>/diag with {{ value_json.x }} (when the diag feature runs); the
// restart button publishes PRESS on <base>/restart/set (unauthenticated: the broker's ACL must keep
// others from writing it); an update entity (installed version from <base>/info) appears when
// mote.json has "remote".
//
// Announced a short random time after every connect where the broker kept no session, and after
// Home Assistant's birth ("online" on <prefix>/status); sensors then publish again at their next read.
// What was announced is kept in Storage (mote.ha: layout line, then " p/key p/key ... "), so items
// removed or renamed, even while Home Assistant was down, are removed on the next announce: in device
// mode their component goes once with only "p", in per-entity mode their config is emptied.
//
// Memory: the device config is never held whole. It is written in pieces (one component at a time)
// with client.raw() after a PUBLISH header of its computed length, QoS 0 retained, all in one tick
// so nothing comes between; the pieces are generated twice (measure, then write). Per-entity configs
// are small and go one per tick through publish() (QoS 1).
import type { Mote } from "./mote.js";
import type { board as Board } from "../platform/board.js";

// The board's platform object, given by runtime.ts's feature() (no copy of board.ts in this bundle).
var board: typeof Board;

var FILE = "mote.ha";

function id(s: string) { return s.replace(/[^a-zA-Z0-9_-]/g, "_"); }
// A JSON string that is bytes as it stands: where strings are bytes (the ESP32/ESP8266 builds) a name
// already is UTF-8; on a Unicode build (the simulator) characters beyond ASCII are written \uXXXX.
function q(s: string) {
  var r = JSON.stringify(s), o = "", i: number, k: number;
  if (JSON.parse('"\\u0100"').charCodeAt(0) != 256) return r;
  for (i = 0; i < r.length; i++) { k = r.charCodeAt(i); o += k < 128 ? r.charAt(i) : "\\u" + (k + 65536).toString(16).slice(1); }
  return o;
}

// Calls f(p, key, body) for each entity: body is the component's JSON members after "p".
function walk(m: Mote, h: any, f: (p: string, key: string, body: string) => void) {
  var c = m.c, b = m.base, l = c.sensors, i: number, s: any, n: string, t: string, st: string, k: string,
    T = ',"dev_cla":"temperature","unit_of_meas":"\\u00b0C","stat_cla":"measurement"',
    D = ',"ent_cat":"diagnostic"', M = ',"stat_cla":"measurement"', I = ',"stat_cla":"total_increasing"',
    S = ',"stat_t":' + q(b + "/diag") + D + ',"val_tpl":"{{ value_json.';
  function e(p: string, key: string, name: string, rest: string) {
    f(p, key, '"name":' + q(name) + ',"uniq_id":"' + h.node + "_" + key + '"' + rest);
  }
  // "|" ends the haystack: Espruino's indexOf reports a needle cut off at the string's end as found.
  for (i = 0; i < l.length; i++) {
    s = l[i]; n = s.name; t = s.type; k = id(n); st = ',"stat_t":' + q(b + "/" + n);
    if ((m.bad + "|").indexOf("sensors[" + i + "]") >= 0) continue;
    if (t == "dht22") {
      e("sensor", k + "_temperature", n + " temperature", ',"stat_t":' + q(b + "/" + n + "/temperature") + T);
      e("sensor", k + "_humidity", n + " humidity", ',"stat_t":' + q(b + "/" + n + "/humidity") +
        ',"dev_cla":"humidity","unit_of_meas":"%"' + M);
    } else if (t == "digital") e("binary_sensor", k, n, st + ',"pl_on":"true","pl_off":"false"');
    else e("sensor", k, n, st + (t == "analog" ? M : t == "internal-temperature" || t == "ds18b20" ? T :
      D + (t == "memory" ? M : t == "uptime" ? ',"dev_cla":"duration","unit_of_meas":"s"' + I :
        ',"dev_cla":"signal_strength","unit_of_meas":"dBm"' + M)));
  }
  l = c.actuators;
  for (i = 0; i < l.length; i++) {
    s = l[i]; n = s.name;
    if (s.x) continue;
    st = ',"cmd_t":' + q(b + "/" + n + "/set") + ',"stat_t":' + q(b + "/" + n);
    if (s.type == "pwm") e("number", id(n), n, st + ',"min":0,"max":1,"step":0.01');
    else e("switch", id(n), n, st + ',"pl_on":"1","pl_off":"0"');
  }
  if (m.f && m.f.diag) {
    e("sensor", "diag_vars_free", "Free variables", S + 'vars_free }}"' + M);
    e("sensor", "diag_rssi", "RSSI", S + 'rssi }}","dev_cla":"signal_strength","unit_of_meas":"dBm"' + M);
    e("sensor", "diag_uptime", "Uptime", S + 'uptime }}","dev_cla":"duration","unit_of_meas":"s"' + I);
    e("sensor", "diag_reconnects", "Reconnects", S + 'reconnects }}"' + I);
    e("sensor", "diag_dropped", "Dropped messages", S + 'dropped }}"' + I);
  }
  e("button", "restart", "Restart", ',"cmd_t":' + q(b + "/restart/set") + ',"pl_prs":"PRESS","dev_cla":"restart","ent_cat":"config"');
  if (c.remote) e("update", "firmware", "Firmware", ',"stat_t":' + q(b + "/info") + ',"val_tpl":"{{ value_json.fw }}"' + D);
}

// The members every config starts with: device, origin, availability.
function head(m: Mote, h: any) {
  return '"dev":{"ids":["' + h.node + '"],"name":' + q(h.name) + ',"mdl":' + q(String(board.model())) +
    ',"mf":"mote","sw":"0.1.0"},"o":{"name":"mote","sw":"0.1.0"},"avty":[{"t":' + q(m.c.status) +
    ',"val_tpl":"{{ \'offline\' if value == \'offline\' else \'online\' }}"}]';
}

// Device mode. out 0: measure (and list the keys in h.now); out 1: write. Returns the payload length.
function pieces(m: Mote, h: any, out: number): number {
  var n = 0, len = 0, r: string[], i: number, x: string;
  function put(s: string) {
    len += s.length;
    if (out) m.client.raw(s);
  }
  put("{" + head(m, h) + ',"cmps":{');
  walk(m, h, function (p, key, body) {
    put((n++ ? "," : "") + q(key) + ':{"p":"' + p + '",' + body + "}");
    if (!out) h.now += p + "/" + key + " ";
  });
  // Gone since the last announce: the component once with only "p".
  r = h.prev.split(" ");
  for (i = 0; i < r.length; i++) {
    x = r[i];
    if (x && (h.now + "|").indexOf(" " + x + " ") < 0) put(',"' + x.split("/")[1] + '":{"p":"' + x.split("/")[0] + '"}');
  }
  put("}}");
  return len;
}

function topic(h: any, p: string, key: string) { return h.prefix + "/" + p + "/" + h.node + "/" + key + "/config"; }

// Announces (device mode: at once; per-entity: one config per call, calling itself again until done).
function announce(m: Mote, h: any) {
  var c = m.client, lay = (h.per ? "e " : "d ") + h.prefix + " " + h.node, old: any, j: number, len: number,
    t: string, i = 0, r: string[], x: string, o: string[];
  h.t = 0;
  if (!m.up) return;
  if (h.k < 0) {
    // A new round: what was announced before, and in which layout.
    old = board.readText(FILE) || "";
    j = old.indexOf("\n");
    h.prev = j < 0 ? " " : old.slice(j + 1);
    h.now = " ";
    if (j >= 0 && old.slice(0, j) != lay) {
      // The layout changed (prefix, node or mode): the old configs all go.
      o = old.slice(0, j).split(" ");
      if (o[0] == "d") c.publish(o[1] + "/device/" + o[2] + "/config", "", { qos: 1, retain: true });
      else {
        r = h.prev.split(" ");
        for (i = 0; i < r.length; i++) if (r[i]) c.publish(o[1] + "/" + r[i].split("/")[0] + "/" + o[2] + "/" + r[i].split("/")[1] + "/config", "", { qos: 1, retain: true });
      }
      h.prev = " ";
    }
    if (!h.per) {
      len = pieces(m, h, 0);
      t = h.prefix + "/device/" + h.node + "/config";
      // PUBLISH, QoS 0, retain; remaining length as MQTT's variable-length integer.
      x = "";
      len += 2 + t.length;
      do { j = len % 128; len = (len - j) / 128; x += String.fromCharCode(len ? j | 128 : j); } while (len);
      if (!c.raw("\x31" + x + String.fromCharCode(t.length >> 8, t.length & 255) + t, 1)) return;
      pieces(m, h, 1);
      if (!m.up) return;
      return done(m, h, lay);
    }
    h.k = 0;
  }
  // Per-entity: the k-th config, or the k-th removal after them.
  if (c.stats().queued) { h.t = board.after(announce, 100, m, h); return; }
  j = h.k++;
  walk(m, h, function (p, key, body) {
    if (i++ == j) c.publish(topic(h, p, key), "{" + head(m, h) + "," + body + "}", { qos: 1, retain: true });
    if (j == 0) h.now += p + "/" + key + " ";
  });
  if (j >= i) {
    r = h.prev.split(" ");
    for (; j - i < r.length; j++) {
      x = r[j - i];
      if (x && (h.now + "|").indexOf(" " + x + " ") < 0) {
        c.publish(topic(h, x.split("/")[0], x.split("/")[1]), "", { qos: 1, retain: true });
        h.k = j + 1;
        break;
      }
    }
    if (j - i >= r.length) return done(m, h, lay);
  }
  h.t = board.after(announce, 20, m, h);
}

// Announced: remember it (only when it changed: flash wear), let the states follow.
function done(m: Mote, h: any, lay: string) {
  var l = m.c.sensors, i: number, s = lay + "\n" + h.now;
  h.k = -1; h.ok = 1;
  if (board.readText(FILE) != s) board.writeText(FILE, s);
  for (i = 0; i < l.length; i++) delete l[i].v;
  if (m.f && m.f.diag) m.f.diag();
  m.log("homeassistant: announced");
}

// A new announce after a random 0.5..2 s (Home Assistant asks for a delay, so a fleet does not
// answer its birth all at once); a round in progress starts over.
function soon(m: Mote, h: any) {
  h.k = -1;
  if (!h.t) h.t = board.after(announce, 500 + Math.random() * 1500, m, h);
}

export function startHa(m: Mote, b: typeof Board) {
  board = b;
  var c = m.c.homeassistant, h: any = {
    prefix: c.prefix || "homeassistant", per: c.per_entity ? 1 : 0, node: id(m.c.mqtt.client_id),
    name: c.name || m.c.mqtt.client_id, k: -1, t: 0, ok: 0,
  }, cl = m.client;
  cl.subscribe([h.prefix + "/status", m.base + "/restart/set"], { qos: 0 }, function (t: string, msg: string) {
    if (t == m.base + "/restart/set") {
      if (msg == "PRESS") { m.log("restart requested"); m.stop(); board.after(board.reboot, 500); }
    } else if (msg == "online") soon(m, h);
  });
  cl.on("connected", function (sp: boolean) { if (!sp || !h.ok) soon(m, h); });
  return h;
}
