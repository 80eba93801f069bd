// mote.json validation and defaults. Runs on the board (bundle: Espruino code rules) and on the host
// (check-config, tests). No Espruino or Node globals here. Regular expressions stay within what
// Espruino's RegExp does: no ?, no {n}, no | inside groups, no \u escapes.
//
// Board rules use a compact board: {id, pins, tls, wifi} where pins is one string "D0:dp D32:dpa D34:ia A0:a"
// (d = digital in+out, i = input only, p = pwm, a = adc), made by compactBoard() from boards/<id>.json.
// On the board it is the Storage file "mote.board" that flash.sh writes (check-config --out); when it is
// missing the board-specific checks are skipped, except that the runtime passes {wifi: false} on a board
// with no Wifi module. `wifi` is required unless the board is known to have no WiFi (wired boards,
// Espruino for Linux). The JSON Schema (config.schema.json) says the same as
// this validator for everything that is not board-specific.

export interface CompactBoard { id: string; pins: string; tls?: boolean; wifi?: boolean }

// Returns one message per bad key, each starting with the key ("sensors[1].pin: D40 is not a pin of
// esp32-devkitc"); [] when the config is good. A value of the wrong type or out of range is also
// deleted from the config, so that applyDefaults puts the default in its place: a device with a bad
// config still runs with what is usable (and reports the errors).
// A function expression in a `let` (as applyDefaults below): release() can let it go on the board.
export let validateConfig = function (c: any, b?: Partial<CompactBoard>): string[] {
  var e: string[] = [], names: any = {}, i: number, l: any, o: any, t: any, k: string;
  // One message per key: a later problem with a key that already has one is not reported.
  function err(p: string, m: string) {
    for (var j = 0; j < e.length; j++) if (e[j].indexOf(p + ": ") == 0) return;
    e.push(p + ": " + m);
  }
  function isObj(v: any) { return v !== null && typeof v == "object" && !Array.isArray(v); }
  function topic(v: string) {
    return v == "" ? "must not be empty" : /[+#]/.test(v) ? "must not contain + or #" :
      v.charAt(0) == "$" ? "must not start with $" :
      v.split("/").indexOf("") >= 0 ? "must not have empty levels (leading, trailing or double /)" :
      /\0/.test(v) ? "must not contain U+0000" : "";
  }
  // Checks object o (at path p, "" or "x.") against spec: key -> rule. A rule is a type letter,
  // "!" when required, then an optional range "lo,hi". Types: s string (range = length), n number,
  // i integer, p number > 0, b boolean, o object, a array, t topic, N name, P pin, x checked by caller.
  function check(o: any, p: string, spec: any) {
    var k: string, r: string, v: any, q: string, y: string, m: string, lo: any, hi: any, n: number, w: any;
    for (k in o) if (!spec.hasOwnProperty(k)) err(p + k, "unknown key");
    for (k in spec) {
      r = spec[k]; v = o[k]; q = p + k; y = r.charAt(0); m = "";
      if (v === undefined) { if (r.charAt(1) == "!") err(q, "required"); continue; }
      w = r.replace("!", "").substr(1).split(",");
      lo = w[0] === "" || w[0] === undefined ? undefined : +w[0]; hi = w[1] ? +w[1] : undefined;
      n = v;
      if ("sNPt".indexOf(y) >= 0) {
        if (typeof v != "string") m = "must be a string";
        else {
          n = v.length;
          if (y == "t") m = topic(v);
          else if (y == "N") m = v == "" ? "must not be empty" : /[\/+#]/.test(v) ? "must not contain /, + or #" : "";
          else if (y == "P") m = (/^D\d+$/.test(v) && n < 4) || /^A\d$/.test(v) ? "" : "not a pin name (D0..D39, A0)";
          else if (lo == 1 && hi === undefined) m = n ? "" : "must not be empty";
          else if (n < lo || n > hi) m = "must be " + lo + ".." + hi + " characters";
        }
      } else if (y == "b") m = typeof v == "boolean" ? "" : "must be true or false";
      else if (y == "o") m = isObj(v) ? "" : "must be an object";
      else if (y == "a") m = Array.isArray(v) ? "" : "must be an array";
      else if (y != "x") {
        if (typeof v != "number" || !isFinite(v)) m = "must be a number";
        else if (y == "i" && v % 1) m = "must be an integer";
        else if (y == "p" && v <= 0) m = "must be > 0";
        else if (lo !== undefined && hi !== undefined && (v < lo || v > hi)) m = "must be " + lo + ".." + hi;
        else if (v < lo) m = "must be >= " + lo;
      }
      if (m) { err(q, m); delete o[k]; }
    }
  }
  // Pin p of item at path q needs capability: a adc, r readable (d or i), d digital output, p pwm.
  function pin(q: string, p: string, need: string) {
    if (!b || !b.pins || typeof p != "string") return;
    // The trailing "|" matters on the board: Espruino's indexOf reports a needle cut off at the
    // string's end as found, and " D40:" would match the final space.
    var s = " " + b.pins + " |", j = s.indexOf(" " + p + ":"), caps: string;
    if (j < 0) return err(q, p + " is not a pin of " + b.id);
    caps = s.substring(j + p.length + 2, s.indexOf(" ", j + 1));
    if (need == "r" ? !/[di]/.test(caps) : caps.indexOf(need) < 0)
      err(q, p + (need == "a" ? " has no ADC" : need == "p" ? " has no PWM" :
        caps.indexOf("i") >= 0 ? " is input-only" : " is not a digital pin") + " on " + b.id);
  }
  function item(p: string, it: any, isSensor: boolean) {
    var n = it.name, ty = it.type, need: any, prev = names["$" + n], k: string;
    if (typeof n == "string" && n) {
      if (prev) err(p + "name", "duplicate name " + n + " (" + prev + ")");
      else if (n == "error" || n == "diag" || n == "restart" || n == "stay" || (n == "status" && c.status === undefined))
        err(p + "name", n + " is reserved (<base>/" + n + ")");
      names["$" + n] = p.slice(0, -1);
    }
    if (typeof ty != "string") return;
    need = (isSensor ? { analog: "a", digital: "r", dht22: "d", ds18b20: "d", "internal-temperature": "", memory: "", uptime: "",
      rssi: "", button: "r", bme280: "" } : { digital: "d", pwm: "p" } as any)[ty];
    if (typeof need != "string") return err(p + "type", "unknown type " + ty + (isSensor ?
      " (analog, digital, internal-temperature, memory, uptime, rssi, dht22, ds18b20, button, bme280)" : " (digital, pwm)"));
    // Keys of one type only: the I2C pins and address of a bme280, the debounce, level and multi-press
    // window of a button.
    for (k in { sda: 1, scl: 1, address: 1, debounce: 2, active_high: 2, multi_press: 2 }) if (it[k] !== undefined &&
      ty != ((k == "debounce" || k == "active_high" || k == "multi_press") ? "button" : "bme280")) err(p + k, "not used by type " + ty);
    if (ty == "bme280") {
      for (k in { sda: 1, scl: 1 }) if (it[k] === undefined) err(p + k, "required for type bme280"); else pin(p + k, it[k], "d");
    }
    if (!need) { if (it.pin !== undefined) err(p + "pin", "not used by type " + ty); }
    else if (it.pin === undefined) { if (isSensor) err(p + "pin", "required for type " + ty); }
    else pin(p + "pin", it.pin, need);
  }

  if (!isObj(c)) return ["config: must be a JSON object"];
  check(c, "", { $schema: "s", wifi: b && b.wifi === false ? "o" : "o!", mqtt: "o!", base: "t", status: "t", sensors: "a",
    actuators: "a", limits: "o", diag_every: "n0", homeassistant: "x", sleep: "o", remote: "o" });
  if (o = c.sleep) {
    check(o, "sleep.", { every: "p!", awake: "p" });
    if (o.every && o.awake >= o.every) err("sleep.awake", "must be less than sleep.every (" + o.every + " s)");
  }
  // Remote management (feature mote-remote): the device key signs every command; confirm is how long
  // a new config or bundle has to reach the broker before the board goes back to the previous one.
  if (c.remote) check(c.remote, "remote.", { key: "s!16,256", confirm: "i2,3600" });
  t = c.homeassistant;
  if (isObj(t)) check(t, "homeassistant.", { prefix: "t", per_entity: "b", name: "s1" });
  else if (t !== undefined && typeof t != "boolean") err("homeassistant", "must be true, false or an object");
  if (c.wifi) check(c.wifi, "wifi.", { ssid: "s!1,32", password: "s0,64" });
  if (o = c.mqtt) {
    check(o, "mqtt.", { host: o.servers ? "s1" : "s!1", port: "i1,65535", servers: "a", tls: "x", username: "s", password: "s", client_id: "s1",
      keep_alive: "i1,65535", clean_session: "b" });
    l = o.servers || [];
    for (i = 0; i < l.length; i++) {
      if (!isObj(l[i])) err("mqtt.servers[" + i + "]", "must be an object");
      else check(l[i], "mqtt.servers[" + i + "].", { host: "s!1", port: "i1,65535" });
    }
    if (o.servers && !l.length) err("mqtt.servers", "must not be empty");
    t = o.tls;
    if (isObj(t)) check(t, "mqtt.tls.", { ca: "s", cert: "s", key: "s" });
    else if (t !== undefined && typeof t != "boolean") err("mqtt.tls", "must be true, false or an object");
    if (t && b && b.id && !b.tls) err("mqtt.tls", b.id + " has no TLS");
    if (o.password !== undefined && o.username === undefined) err("mqtt.password", "needs mqtt.username");
    if (typeof o.client_id == "string" && c.base === undefined && (k = topic("mote/" + o.client_id)))
      err("mqtt.client_id", "makes the default base topic invalid: " + k);
  }
  for (k in { sensors: 1, actuators: 1 }) {
    l = c[k] || [];
    for (i = 0; i < l.length; i++) {
      o = l[i]; t = k + "[" + i + "].";
      if (!isObj(o)) { err(t.slice(0, -1), "must be an object"); continue; }
      if (k == "sensors") check(o, t, { name: "N!", type: "s!", pin: "P", every: "p", qos: "i0,2", retain: "b",
        deadband: "n0", heartbeat: "i1", scale: "n", offset: "n", debounce: "n0,10000", active_high: "b", multi_press: "i100,5000", sda: "P", scl: "P",
        address: "i0,127" });
      else {
        check(o, t, { name: "N!", type: "s!", pin: "P!", invert: "b", initial: "x", restore: "b", freq: "p", qos: "i0,2" });
        if (o.initial !== undefined && typeof o.initial != "boolean" &&
          !(typeof o.initial == "number" && o.initial >= 0 && o.initial <= 1)) err(t + "initial", "must be 0..1, true or false");
      }
      item(t, o, k == "sensors");
    }
  }
  if (c.limits) check(c.limits, "limits.", { inflight: "i1,19", queue: "i0,100", max_packet: "i64,65536" });
  return e;
};

// Fills in the defaults (documented in config.schema.json), in place, and returns the config.
// Tolerates a config that failed validation (missing objects become empty ones). The defaults of each
// sensor and actuator, and mqtt's tls, keep_alive and clean_session, are filled in only with items = true
// (host tools, tests): the board leaves them out, saving some 14 variables per sensor, and sensors.ts /
// actuators.ts / the client use the same defaults where they read the values.
export let applyDefaults = function (c: any, serial: string, items?: boolean): any {
  var i: number, a: any, m: any;
  function def(o: any, d: any) {
    for (var k in d) if (o[k] === undefined) o[k] = d[k];
    return o;
  }
  function obj(o: any) { return o !== null && typeof o == "object" && !Array.isArray(o) ? o : {}; }
  def(c.wifi = obj(c.wifi), { password: "" });
  m = c.mqtt = obj(c.mqtt);
  def(m, { client_id: serial });
  // The client's own defaults: stored only for the host tools (each stored field costs the board 2-4 variables).
  if (items) def(m, { tls: false, keep_alive: 60, clean_session: true });
  def(m, { port: m.tls ? 8883 : 1883 });
  def(c, { base: "mote/" + m.client_id });
  def(c, { status: c.base + "/status" });
  def(c.limits = obj(c.limits), { inflight: 8, queue: 8, max_packet: 1024 });
  if (!Array.isArray(c.sensors)) c.sensors = [];
  if (!Array.isArray(c.actuators)) c.actuators = [];
  if (items) for (i = 0; i < c.sensors.length; i++)
    def(c.sensors[i], { every: 60, qos: 0, retain: false, deadband: 0, heartbeat: 10, scale: 1, offset: 0 });
  if (items) for (i = 0; i < c.actuators.length; i++) {
    a = def(c.actuators[i], { invert: false, initial: 0, restore: false, qos: 1 });
    a.initial = +a.initial;
  }
  return c;
};

// The board checks its config once, at boot: then release() drops both functions and itself, which
// frees their variables (function declarations would stay resident for good, ~7 variables each).
export let release = function () {
  validateConfig = applyDefaults = release = undefined as any;
};

// Host side (tree-shaken out of the firmware): boards/<id>.json -> the compact board the validator reads.
export function compactBoard(board: any): CompactBoard {
  var s: string[] = [], p: string;
  for (p in board.pins) s.push(p + ":" + board.pins[p].map(function (x: string) { return x == "input" ? "i" : x.charAt(0); }).join(""));
  return { id: board.id, pins: s.join(" "), tls: !!board.tls, wifi: !!board.wifi };
}
