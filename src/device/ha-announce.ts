// One Home Assistant announce round (Storage module mote-ha-announce, required by ha.ts for the round
// and released after it).
//
// Device mode (Home Assistant 2024.11+): one retained config on <prefix>/device/<node>/config with dev,
// o, the availability and cmps, one component per entity. It is never held whole: its length is
// measured (one pass over the entities), then the client's stream part (mote-mqtt-stream) writes it as
// a QoS 0 PUBLISH one piece at a time (the head in two, then one component each), each piece made
// when the socket has sent the one before: the board holds one piece, never the message. QoS 0: a
// lost one is answered by the next connect or birth. Per-entity mode: one retained config per entity
// on <prefix>/<component>/<node>/<key>/config, QoS 1, each one only once the one before is
// acknowledged (nothing in flight or queued): a QoS 1 message is kept whole until its PUBACK.
//
// Memory: before each config or piece, the free variables are checked against what writing it takes
// (need()); without room the round stops, says so (console and <base>/error) and announces nothing
// more. A piece found without room in the middle of the device config is given up: the stream then
// closes the connection, so that the broker keeps no half-written config.
//
// Ids: <node> is the client id and <key> the item's name (plus _temperature etc. for sensors with
// several values), every character outside [a-zA-Z0-9_-] made "_": stable across reboots and across
// config edits that keep the name. uniq_id is <node>_<key>.
//
// Payloads declared are those the board publishes and accepts (sensors.ts, actuators.ts): digital
// sensors "true"/"false", button sensors "pressed"/"released", digital actuators "1"/"0" both ways, pwm
// actuators as a number 0..1 (Home Assistant's number sends "0.5", "1"; the board echoes "0.5", "1"),
// user actuators (mote-script) as a switch "1"/"0", or a number min..max when the user gives those.
// Availability is the status topic, where only "offline" is unavailable ("error" and "sleeping" keep
// the last states shown). Boards that sleep ("sleep": {"every": S, "awake": A}) give their sensors
// exp_aft = 2S + 3A seconds: the longest gap between two readings when every wake publishes is S + 2A
// (one at the start of an awake window, the next at the end of the following one), and one missed wake
// (WiFi or broker not reached) adds S + A more before the value is declared stale.
//
// No ghosts: what was announced is kept in Storage (mote.ha), so that an item removed or renamed, even
// while Home Assistant was down, is removed. Lines: the layout ("d|e <prefix> <node>"), the entries
// announced, the entries removed and not yet confirmed gone, each entry "<prefix>/<component>/<node>/<key>".
// A removed entry goes in device mode as its component with only "p" (Home Assistant then deletes it),
// in per-entity mode as an empty retained config. Home Assistant deletes only what it discovered since
// it started, so an entity removed while it was down would stay in its registry: in the round that
// answers its birth, each removed entry is first announced again with a minimal config (not retained),
// then emptied; only then is it forgotten.
import type { Mote } from "./mote.js";
import type { board as Board } from "../platform/board.js";

// Memory: this module's functions are all top level and take what they need as arguments; no closure
// is made at run time and constant JSON text stays in the code (in flash) until used. The round's
// state is one object, `a`: pre/per/node/name/lay the layout, r the round, birth, ph the phase, k the
// step within it, mode what out() does, n/len the device config's components and length, now the
// entries announced ("<component>/<key>"), pend the removed entries, old the configs of a previous
// layout to empty first.
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

function has(list: string, x: string) { return (list + "|").indexOf(" " + x + " ") >= 0; }

// Whether the full entry e ("<prefix>/<component>/<node>/<key>") is announced in this round.
function cur(a: any, e: string) {
  var r = e.split("/"), k = r.pop(), n = r.pop(), p = r.pop();
  return r.join("/") == a.pre && n == a.node && has(a.now, p + "/" + k);
}

// Device class, unit, state class and category of a value, by sensor type or value name.
function kind(t: string): string {
  return t == "temperature" || t == "internal-temperature" || t == "ds18b20" ? ',"dev_cla":"temperature","unit_of_meas":"\\u00b0C","stat_cla":"measurement"' :
    t == "humidity" ? ',"dev_cla":"humidity","unit_of_meas":"%","stat_cla":"measurement"' :
    t == "pressure" ? ',"dev_cla":"pressure","unit_of_meas":"hPa","stat_cla":"measurement"' :
    t == "analog" ? ',"stat_cla":"measurement"' :
    t == "memory" ? ',"stat_cla":"measurement","ent_cat":"diagnostic"' :
    t == "uptime" ? ',"dev_cla":"duration","unit_of_meas":"s","stat_cla":"total_increasing","ent_cat":"diagnostic"' :
    t == "rssi" ? ',"dev_cla":"signal_strength","unit_of_meas":"dBm","stat_cla":"measurement","ent_cat":"diagnostic"' : "";
}

// One entity: what is done with it depends on a.mode (0 list its entry, 1 measure its component,
// 2 make its component when it is the k-th (a.pc), 3 make its per-entity config when it is the k-th
// (a.pc, its topic a.pt)).
function out(m: Mote, a: any, p: string, key: string, name: string, rest: string) {
  // A device trigger is no entity and has no name (Home Assistant drops keys it does not know there).
  var s = (name ? '"name":' + q(name) + "," : "") + '"uniq_id":"' + a.node + "_" + key + '"';
  if (a.mode == 0) a.now += p + "/" + key + " ";
  else if (a.n++ != a.k && a.mode > 1) return;
  else if (a.mode == 3) {
    a.pt = a.pre + "/" + p + "/" + a.node + "/" + key + "/config";
    a.pc = "{" + (a.k ? head(m, a, 2) : head(m, a, 0) + head(m, a, 1)) + "," + s + rest + "}";
  } else {
    s = (a.n > 1 ? "," : "") + q(key) + ':{"p":"' + p + '",' + s + rest + "}";
    if (a.mode == 2) a.pc = s;
    else { a.len += s.length; if (s.length > a.mx) a.mx = s.length; }
  }
}

// Every entity of the board, in a stable order, through out().
function walk(m: Mote, a: any) {
  var c = m.c, b = m.base, l = c.sensors, i: number, s: any, n: string, t: string, k: string, j: number,
    z = c.sleep, x = z && z.every > 0 ? ',"exp_aft":' + Math.round(2 * z.every + 3 * (z.awake || 10)) : "";
  for (i = 0; i < l.length; i++) {
    s = l[i]; n = s.name; t = s.type; k = id(n);
    // "|" ends the haystack: Espruino's indexOf reports a needle cut off at the string's end as found.
    if ((m.bad + "|").indexOf("sensors[" + i + "]") >= 0) continue;
    if (t == "dht22" || t == "bme280") {
      // One sensor per value, on <base>/<name>/<value>.
      for (j = t == "dht22" ? 1 : 2; j >= 0; j--) {
        t = ["temperature", "humidity", "pressure"][j];
        out(m, a, "sensor", k + "_" + t, n + " " + t, ',"stat_t":' + q(b + "/" + n + "/" + t) + kind(t) + x);
      }
    } else if (t == "digital") out(m, a, "binary_sensor", k, n, ',"stat_t":' + q(b + "/" + n) + ',"pl_on":"true","pl_off":"false"' + x);
    // A button's state changes only when pressed: no expiry. With multi_press, one device trigger per
    // count of 1 to 5 presses (the types Home Assistant's frontend names), on <base>/<name>/presses;
    // the subtype is the button's name, so that several buttons' triggers stay apart.
    else if (t == "button") {
      out(m, a, "binary_sensor", k, n, ',"stat_t":' + q(b + "/" + n) + ',"pl_on":"pressed","pl_off":"released"');
      if (s.multi_press) for (j = 1; j < 6; j++) out(m, a, "device_automation", k + "_presses_" + j, "", ',"automation_type":"trigger","topic":' +
        q(b + "/" + n + "/presses") + ',"type":"button_' + ["short", "double", "triple", "quadruple", "quintuple"][j - 1] +
        '_press","subtype":' + q(n) + ',"payload":"' + j + '"');
    }
    else out(m, a, "sensor", k, n, ',"stat_t":' + q(b + "/" + n) + (t == "user" ? (s.unit ? ',"unit_of_meas":' + q(s.unit) : "") +
      (s.device_class ? ',"dev_cla":' + q(s.device_class) : "") + (s.state_class ? ',"stat_cla":' + q(s.state_class) : "") : kind(t)) + x);
  }
  l = c.actuators;
  for (i = 0; i < l.length; i++) {
    s = l[i]; n = s.name; t = ',"cmd_t":' + q(b + "/" + n + "/set") + ',"stat_t":' + q(b + "/" + n);
    if (s.x) continue;
    if (s.type == "pwm") out(m, a, "number", id(n), n, t + ',"min":0,"max":1,"step":0.01,"mode":"slider"');
    else if (s.type == "digital") out(m, a, "switch", id(n), n, t + ',"pl_on":"1","pl_off":"0"');
    // An actuator of the user's code (mote-script): its set() gets Home Assistant's payload as it is
    // and the board echoes what set() returns, or the payload. With min and max (checked numbers,
    // min < max) a number: Home Assistant sends the value as text ("21.5", "21"); else a switch
    // sending "1"/"0", like a digital actuator.
    else if (s.type == "user") out(m, a, s.max > s.min ? "number" : "switch", id(n), n, t + (s.max > s.min ? ',"min":' + s.min +
      ',"max":' + s.max + (s.step ? ',"step":' + s.step : "") + (s.unit ? ',"unit_of_meas":' + q(s.unit) : "") : ',"pl_on":"1","pl_off":"0"'));
  }
  if (m.f && m.f.diag) {
    // Read from the JSON the diag feature publishes; no state class (figures, not statistics).
    t = ',"stat_t":' + q(b + "/diag") + ',"ent_cat":"diagnostic","val_tpl":"{{ value_json.';
    out(m, a, "sensor", "diag_vars_free", "Free variables", t + 'vars_free }}"' + x);
    if (m.w) out(m, a, "sensor", "diag_rssi", "RSSI", t + 'rssi }}","dev_cla":"signal_strength","unit_of_meas":"dBm"' + x);
    out(m, a, "sensor", "diag_uptime", "Uptime", t + 'uptime }}","dev_cla":"duration","unit_of_meas":"s"' + x);
    out(m, a, "sensor", "diag_reconnects", "Reconnects", t + 'reconnects }}"' + x);
    out(m, a, "sensor", "diag_dropped", "Dropped messages", t + 'dropped }}"' + x);
  }
  out(m, a, "button", "restart", "Restart", ',"cmd_t":' + q(b + "/restart/set") + ',"dev_cla":"restart","ent_cat":"config"');
  // Installed version: "fw" of the retained <base>/info every board publishes at connect
  // (docs/remote-protocol.md). No latest version is claimed: `mote ota` installs.
  out(m, a, "update", "firmware", "Firmware", ',"stat_t":' + q(b + "/info") + ',"val_tpl":"{{ value_json.fw }}","ent_cat":"diagnostic"');
}

// The members every config starts with: 0 the device, 1 origin and availability (the device config's
// first two pieces, and the first per-entity config), 2 the device by its id alone and availability
// (every other per-entity config: Home Assistant's device registry keeps what the first one gave, and
// origin is optional there; held whole until acknowledged, each config is kept short). The version is
// the running runtime's (m.v, version.ts), the one <base>/info's fw gives: this module may be older
// than a runtime updated over the air.
function head(m: Mote, a: any, i: number) {
  var v = ',"avty_t":' + q(m.c.status) + ',"avty_tpl":"{{ \'offline\' if value == \'offline\' else \'online\' }}"';
  return i == 1 ? ',"o":{"name":"mote","sw":' + q(m.v) + "}" + v : '"dev":{"ids":["' + a.node + '"]' +
    (i ? "}" + v : ',"name":' + q(a.name) + ',"mdl":' + q(a.mdl) + ',"mf":"mote","sw":' + q(m.v) + "}");
}

// What writing a string of `len` bytes takes, in variables: `copies` copies of it (the socket's buffer,
// the two copies a publish makes) at 6.5 bytes per variable, the fewest a string made by concatenation
// gets (measured on the 1,600-variable build: 12-byte variables), and 40 for the code that writes it.
function need(len: number, copies: number) { return Math.ceil(copies * len / 6.5) + 40; }

function free(): number { return board.memory().free; }

// The device config measured: its length (a.len), its largest piece (a.mx), its components (a.nc)
// and the removals (a.rm: "<component>/<key> " each, a.nr of them: removed from this device, and no
// component of now has its key).
function device(m: Mote, a: any) {
  var r = a.pend.split(" "), i: number, x: string[], h0 = head(m, a, 0).length + 1, h1 = head(m, a, 1).length + 9;
  a.mode = 1; a.n = 0; a.rm = ""; a.nr = 0;
  a.len = h0 + h1 + 2;
  a.mx = Math.max(h0, h1);
  walk(m, a);
  a.nc = a.n;
  for (i = 0; i < r.length; i++) {
    x = r[i].split("/");
    if (x.length > 3 && x.slice(0, -3).join("/") == a.pre && x[x.length - 2] == a.node && (a.now + "|").indexOf("/" + x[x.length - 1] + " ") < 0) {
      a.rm += x[x.length - 3] + "/" + x[x.length - 1] + " ";
      a.len += gone(a, a.nr++).length;
    }
  }
}

// Removal j of the device config: its component with only "p" (Home Assistant then deletes it).
function gone(a: any, j: number): string {
  var x = a.rm.split(" ")[j].split("/");
  return (a.nc + j ? "," : "") + q(x[1]) + ':{"p":"' + x[0] + '"}';
}

// Piece k of the device config, as the stream asks for it (k = 0, 1, ...): the head in two, the
// components, the removals, the end; then "", and the round goes on. Null when the board has no room
// for the piece: the stream then closes the connection rather than send part of the config.
function piece(a: any, k: number): string | null {
  var m: Mote = a.m, s: string;
  if (k < 2) s = k ? head(m, a, 1) + ',"cmps":{' : "{" + head(m, a, 0);
  else if (k < 2 + a.nc) { a.mode = 2; a.n = 0; a.k = k - 2; walk(m, a); s = a.pc; a.pc = ""; }
  else if (k < 2 + a.nc + a.nr) s = gone(a, k - 2 - a.nc);
  else if (k == 2 + a.nc + a.nr) s = "}}";
  else {
    a.ph = 2; a.k = 0;
    board.after(step, 20, m, a, a.h);
    return "";
  }
  if (free() >= need(s.length, 1)) return s;
  m.log("homeassistant: device config given up after " + k + " pieces: no room (" + free() + " variables free)");
  // Not again at every reconnect: at Home Assistant's next birth.
  a.h.ok = 1;
  return null;
}

// No room to announce: said on the console and on <base>/error (QoS 1, not retained, like the user
// code's errors): the retained config errors stay as they are, and whoever watches the board learns
// why it is not in Home Assistant. The round stops there.
function noRoom(m: Mote, what: string, len: number, n: number, f: number, hint: string) {
  var t = "homeassistant: no room for the " + len + "-byte " + what + " (" + f + " variables free, " + n + " needed)" + hint;
  m.log(t);
  m.client.publish(m.base + "/error", t, { qos: 1, retain: false });
}

// The round's next step, one per tick: phase 0 empty the previous layout's configs (when it changed),
// 1 the device config or the per-entity configs, 2 the removals, 3 done: the states follow.
function step(m: Mote, a: any, h: any) {
  var c = m.client, j: number, len: number, t: string, x: any, r: string[];
  if (h.r != a.r || !m.up) return;
  // Per-entity configs and removals go one at a time: each only once the one before is acknowledged.
  x = c.stats();
  if (x.queued || x.inflight) { board.after(step, 100, m, a, h); return; }
  if (a.ph == 0) {
    r = a.old.split(" ");
    for (j = 0; j < r.length && !r[j]; j++);
    if (j < r.length) { c.publish(r[j], "", { qos: 1, retain: true }); a.old = r.slice(j + 1).join(" "); }
    else a.ph = 1;
  } else if (a.ph == 1 && !a.per) {
    // Measured first (what that makes is let go), then the stream's code loaded: the room counted
    // below is what is left beside it.
    device(m, a);
    x = board.module("mote-mqtt-stream");
    Modules.removeCached("mote-mqtt-stream");
    // The largest piece, the socket's copy of it and what is made while making it; the stream's state.
    len = need(a.mx, 3) + 40;
    j = free();
    if (j < len) {
      x = 0;
      // Per-entity configs are held whole (QoS 1): said when the largest would fit where this does not.
      t = ": " + (j >= need(head(m, a, 0).length + head(m, a, 1).length + a.mx, 3) ? "per_entity would fit" : "announcing nothing");
      return noRoom(m, "device config", a.len, len, j, t);
    }
    a.m = m; a.h = h; a.ph = 4;
    // From here the stream asks piece() for each piece; its last call moves the round on.
    if (x.stream(c, a.pre + "/device/" + a.node + "/config", a.len, piece, a, 1)) return;
    a.ph = 1;
  } else if (a.ph == 1) {
    // One config in flight at a time: the next only once the broker acknowledged this one (the step
    // waits above while anything is in flight).
    a.mode = 3; a.n = 0; a.pc = "";
    walk(m, a);
    t = a.pc; a.pc = "";
    j = free(); len = need(t.length, 3);
    if (j < len) {
      x = t.length; t = "";
      return noRoom(m, "config of " + a.pt.split("/").slice(-2)[0], x, len, j, ": announcing nothing more");
    }
    c.publish(a.pt, t, { qos: 1, retain: true });
    if (++a.k >= a.n) { a.ph = 2; a.k = 0; }
  } else if (a.ph == 2) {
    // Removals: in the round answering a birth each one is first announced again (minimal, not
    // retained), then emptied (retained: that also clears a per-entity config the broker keeps).
    r = a.pend.split(" ");
    while (a.k < 2 * r.length && (!r[a.k >> 1] || (!a.birth && !(a.k & 1)))) a.k++;
    if (a.k >= 2 * r.length) a.ph = 3;
    else {
      x = r[a.k >> 1];
      if (a.k++ & 1) c.publish(x + "/config", "", { qos: 1, retain: true });
      else {
        r = x.split("/");
        c.publish(x + "/config", '{"dev":{"ids":["' + r[r.length - 2] + '"]},"uniq_id":"' + r[r.length - 2] + "_" + r[r.length - 1] + '",' +
          (" sensor binary_sensor update |".indexOf(" " + r[r.length - 3] + " ") >= 0 ? '"stat_t"' : '"cmd_t"') +
          ':"' + m.base + '/removed"}', { qos: 1, retain: false });
      }
    }
  } else {
    // After a round answering a birth the removals are done: Home Assistant was there to receive them.
    if (a.birth) save(a.lay + "\n" + a.now + "\n ");
    h.ok = 1;
    m.log("homeassistant: announced");
    board.after(states, 1000, m);
    return;
  }
  board.after(step, 20, m, a, h);
}

// What is announced is remembered before it is sent (a restart in the middle of a round then loses
// no removal), and only when it changed (flash wear).
function save(t: string) { if (board.readText(FILE) != t) board.writeText(FILE, t); }

// Sensor states follow the announcement (Home Assistant has subscribed to them by now): the last
// value published again, and the next reading published whatever its deadband.
function states(m: Mote) {
  var l = m.c.sensors, i: number, s: any, t: string, o: any;
  if (!m.up) return;
  for (i = 0; i < l.length; i++) {
    s = l[i]; t = m.base + "/" + s.name; o = { qos: s.qos || 0, retain: !!s.retain };
    if (s.v !== undefined && s.type == "dht22") {
      m.client.publish(t + "/temperature", String(s.v), o);
      m.client.publish(t + "/humidity", String(s.w), o);
    } else if (s.v !== undefined && s.type != "bme280") m.client.publish(t, String(s.v), o);
    delete s.v;
  }
  // The diagnostic entities' figures too.
  if (m.f && m.f.diag) m.f.diag();
}

export function announce(m: Mote, b: typeof Board, h: any) {
  board = b;
  var c = m.c.homeassistant, old = (board.readText(FILE) || "").split("\n"), o: string[], r: string[], i: number, e: string,
    a: any = {
      pre: c.prefix || "homeassistant", per: c.per_entity ? 1 : 0, node: id(m.c.mqtt.client_id),
      // The model once: process.env, where it comes from, is made afresh (about 50 variables) at each read.
      name: c.name || m.c.mqtt.client_id, mdl: String(board.model()), r: h.r, birth: h.b, ph: 0, k: 0, mode: 0, now: " ", pend: " ", old: "",
    };
  h.b = 0;
  if (!m.up) return;
  a.lay = (a.per ? "e " : "d ") + a.pre + " " + a.node;
  walk(m, a);
  // What the previous round announced (entries relative to its layout), made full entries: removed
  // unless announced now; with the layout changed from per-entity to device mode, emptied first.
  o = old[0].split(" ");
  r = (old[1] || "").split(" ");
  for (i = 0; i < r.length; i++) {
    if (!r[i]) continue;
    e = o[1] + "/" + r[i].split("/")[0] + "/" + o[2] + "/" + r[i].split("/")[1];
    if (!cur(a, e)) old[2] = (old[2] || " ") + e + " ";
    if (o[0] == "e" && !a.per) a.old += " " + e + "/config";
  }
  if (o[0] == "d" && old[0] != a.lay) a.old = o[1] + "/device/" + o[2] + "/config";
  // Removed entries: each once, none that is announced now.
  r = (old[2] || "").split(" ");
  for (i = 0; i < r.length; i++) {
    e = r[i];
    if (e && !has(a.pend, e) && !cur(a, e)) a.pend += e + " ";
  }
  save(a.lay + "\n" + a.now + "\n" + a.pend);
  step(m, a, h);
}
