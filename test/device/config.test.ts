// validateConfig / applyDefaults / compactBoard (src/device/config.ts), the JSON Schema kept in step
// with the validator, the example configs and the board files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import AjvModule from "ajv";
import { validateConfig, applyDefaults, compactBoard } from "../../src/device/config.js";
import { ROOT, loadBoard, boardIds, schemaErrors, checkConfig } from "../../src/tools/config-check.js";

const BOARDS = ["esp32-devkitc", "esp8266-nodemcu", "wemos-d1-mini"];
const compact = (id: string) => compactBoard(loadBoard(id));
const base = () => ({ wifi: { ssid: "net" }, mqtt: { host: "broker" } }) as any;
const clone = (x: any) => JSON.parse(JSON.stringify(x));

// [description, change to the minimal config, board or "", expected errors, schema: path | "" (validator-only rule)]
type Case = [string, (c: any) => void, string, string[], string?];
const cases: Case[] = [
  // keys and types
  ["unknown top-level key", (c) => { c.foo = 1; }, "", ["foo: unknown key"]],
  ["unknown nested key", (c) => { c.wifi.pw = "x"; }, "", ["wifi.pw: unknown key"]],
  ["unknown sensor key", (c) => { c.sensors = [{ name: "a", type: "memory", period: 5 }]; }, "", ["sensors[0].period: unknown key"]],
  ["inherited name as key", (c) => { c.hasOwnProperty = 1; }, "", ["hasOwnProperty: unknown key"]],
  // wifi is required unless the board is known to have none (a board rule: the schema does not require it)
  ["missing wifi", (c) => { delete c.wifi; }, "", ["wifi: required"], ""],
  ["missing wifi on a WiFi board", (c) => { delete c.wifi; }, "wemos-d1-mini", ["wifi: required"], ""],
  ["missing mqtt", (c) => { delete c.mqtt; }, "", ["mqtt: required"]],
  ["missing ssid", (c) => { delete c.wifi.ssid; }, "", ["wifi.ssid: required"]],
  ["missing host", (c) => { delete c.mqtt.host; }, "", ["mqtt.host: required"]],
  ["wifi not an object", (c) => { c.wifi = "net"; }, "", ["wifi: must be an object"]],
  ["ssid too long", (c) => { c.wifi.ssid = "x".repeat(33); }, "", ["wifi.ssid: must be 1..32 characters"]],
  ["password too long", (c) => { c.wifi.password = "x".repeat(65); }, "", ["wifi.password: must be 0..64 characters"]],
  ["servers not an array", (c) => { delete c.mqtt.host; c.mqtt.servers = { host: "a" }; }, "", ["mqtt.servers: must be an array"]],
  ["servers empty", (c) => { delete c.mqtt.host; c.mqtt.servers = []; }, "", ["mqtt.servers: must not be empty"]],
  ["server not an object", (c) => { c.mqtt.servers = ["a:1883"]; }, "", ["mqtt.servers[0]: must be an object"]],
  ["server without host", (c) => { c.mqtt.servers = [{ host: "a" }, { port: 1884 }]; }, "", ["mqtt.servers[1].host: required"]],
  ["server port 0", (c) => { c.mqtt.servers = [{ host: "a", port: 0 }]; }, "", ["mqtt.servers[0].port: must be 1..65535"]],
  ["server unknown key", (c) => { c.mqtt.servers = [{ host: "a", tls: true }]; }, "", ["mqtt.servers[0].tls: unknown key"]],
  ["empty host", (c) => { c.mqtt.host = ""; }, "", ["mqtt.host: must not be empty"]],
  ["host not a string", (c) => { c.mqtt.host = 1; }, "", ["mqtt.host: must be a string"]],
  ["port as string", (c) => { c.mqtt.port = "1883"; }, "", ["mqtt.port: must be a number"]],
  ["port not integer", (c) => { c.mqtt.port = 1883.5; }, "", ["mqtt.port: must be an integer"]],
  ["port 0", (c) => { c.mqtt.port = 0; }, "", ["mqtt.port: must be 1..65535"]],
  ["keep_alive 0", (c) => { c.mqtt.keep_alive = 0; }, "", ["mqtt.keep_alive: must be 1..65535"]],
  ["keep_alive 65536", (c) => { c.mqtt.keep_alive = 65536; }, "", ["mqtt.keep_alive: must be 1..65535"]],
  ["clean_session not boolean", (c) => { c.mqtt.clean_session = "yes"; }, "", ["mqtt.clean_session: must be true or false"]],
  ["empty client_id", (c) => { c.mqtt.client_id = ""; }, "", ["mqtt.client_id: must not be empty"]],
  ["tls wrong type", (c) => { c.mqtt.tls = "yes"; }, "", ["mqtt.tls: must be true, false or an object"]],
  ["tls.ca not string", (c) => { c.mqtt.tls = { ca: 1 }; }, "", ["mqtt.tls.ca: must be a string"]],
  ["tls unknown key", (c) => { c.mqtt.tls = { pem: "x" }; }, "", ["mqtt.tls.pem: unknown key"]],
  ["password without username", (c) => { c.mqtt.password = "p"; }, "", ["mqtt.password: needs mqtt.username"]],
  ["sensors not an array", (c) => { c.sensors = {}; }, "", ["sensors: must be an array"]],
  ["sensor not an object", (c) => { c.sensors = [5]; }, "", ["sensors[0]: must be an object"]],
  ["limits not an object", (c) => { c.limits = 8; }, "", ["limits: must be an object"]],
  // topics
  ["base with +", (c) => { c.base = "a/+/b"; }, "", ["base: must not contain + or #"]],
  ["base with #", (c) => { c.base = "a/#"; }, "", ["base: must not contain + or #"]],
  ["status with #", (c) => { c.status = "a/b#"; }, "", ["status: must not contain + or #"]],
  ["status empty level", (c) => { c.status = "a//b"; }, "", ["status: must not have empty levels (leading, trailing or double /)"]],
  ["base leading /", (c) => { c.base = "/a"; }, "", ["base: must not have empty levels (leading, trailing or double /)"]],
  ["base trailing /", (c) => { c.base = "a/"; }, "", ["base: must not have empty levels (leading, trailing or double /)"]],
  ["base empty", (c) => { c.base = ""; }, "", ["base: must not be empty"]],
  ["base starting with $", (c) => { c.base = "$SYS/x"; }, "", ["base: must not start with $"]],
  ["base NUL", (c) => { c.base = "a\u0000b"; }, "", ["base: must not contain U+0000"]],
  ["base not a string", (c) => { c.base = 5; }, "", ["base: must be a string"]],
  ["client_id breaking default base", (c) => { c.mqtt.client_id = "dev+1"; }, "",
    ["mqtt.client_id: makes the default base topic invalid: must not contain + or #"], ""],
  // sensors and actuators
  ["sensor without name", (c) => { c.sensors = [{ type: "memory" }]; }, "", ["sensors[0].name: required"]],
  ["sensor without type", (c) => { c.sensors = [{ name: "m" }]; }, "", ["sensors[0].type: required"]],
  ["unknown sensor type", (c) => { c.sensors = [{ name: "s", type: "sonar" }]; }, "",
    ["sensors[0].type: unknown type sonar (analog, digital, internal-temperature, memory, uptime, rssi, dht22, ds18b20, button, bme280)"]],
  ["inherited name as sensor type", (c) => { c.sensors = [{ name: "s", type: "toString" }]; }, "",
    ["sensors[0].type: unknown type toString (analog, digital, internal-temperature, memory, uptime, rssi, dht22, ds18b20, button, bme280)"]],
  ["sensor name with /", (c) => { c.sensors = [{ name: "a/b", type: "memory" }]; }, "", ["sensors[0].name: must not contain /, + or #"]],
  ["sensor name with +", (c) => { c.sensors = [{ name: "a+", type: "memory" }]; }, "", ["sensors[0].name: must not contain /, + or #"]],
  ["empty sensor name", (c) => { c.sensors = [{ name: "", type: "memory" }]; }, "", ["sensors[0].name: must not be empty"]],
  ["duplicate sensor name", (c) => { c.sensors = [{ name: "t", type: "memory" }, { name: "t", type: "uptime" }]; }, "",
    ["sensors[1].name: duplicate name t (sensors[0])"], ""],
  ["sensor and actuator share a name", (c) => {
    c.sensors = [{ name: "x", type: "memory" }]; c.actuators = [{ name: "x", type: "digital", pin: "D2" }];
  }, "", ["actuators[0].name: duplicate name x (sensors[0])"], ""],
  ["name error reserved", (c) => { c.sensors = [{ name: "error", type: "memory" }]; }, "", ["sensors[0].name: error is reserved (<base>/error)"], ""],
  ["name status reserved", (c) => { c.actuators = [{ name: "status", type: "digital", pin: "D2" }]; }, "",
    ["actuators[0].name: status is reserved (<base>/status)"], ""],
  ["qos 3", (c) => { c.sensors = [{ name: "m", type: "memory", qos: 3 }]; }, "", ["sensors[0].qos: must be 0..2"]],
  ["qos -1", (c) => { c.actuators = [{ name: "a", type: "digital", pin: "D2", qos: -1 }]; }, "", ["actuators[0].qos: must be 0..2"]],
  ["qos 1.5", (c) => { c.sensors = [{ name: "m", type: "memory", qos: 1.5 }]; }, "", ["sensors[0].qos: must be an integer"]],
  ["every 0", (c) => { c.sensors = [{ name: "m", type: "memory", every: 0 }]; }, "", ["sensors[0].every: must be > 0"]],
  ["every negative", (c) => { c.sensors = [{ name: "m", type: "memory", every: -5 }]; }, "", ["sensors[0].every: must be > 0"]],
  ["every as string", (c) => { c.sensors = [{ name: "m", type: "memory", every: "5" }]; }, "", ["sensors[0].every: must be a number"]],
  ["deadband negative", (c) => { c.sensors = [{ name: "m", type: "memory", deadband: -1 }]; }, "", ["sensors[0].deadband: must be >= 0"]],
  ["heartbeat 0", (c) => { c.sensors = [{ name: "m", type: "memory", heartbeat: 0 }]; }, "", ["sensors[0].heartbeat: must be >= 1"]],
  ["scale as string", (c) => { c.sensors = [{ name: "m", type: "memory", scale: "2" }]; }, "", ["sensors[0].scale: must be a number"]],
  ["retain as number", (c) => { c.sensors = [{ name: "m", type: "memory", retain: 1 }]; }, "", ["sensors[0].retain: must be true or false"]],
  ["pin not a pin name", (c) => { c.sensors = [{ name: "a", type: "analog", pin: "GPIO4" }]; }, "", ["sensors[0].pin: not a pin name (D0..D39, A0)"]],
  ["pin with 3 digits", (c) => { c.sensors = [{ name: "a", type: "analog", pin: "D123" }]; }, "", ["sensors[0].pin: not a pin name (D0..D39, A0)"]],
  ["pin A10", (c) => { c.sensors = [{ name: "a", type: "analog", pin: "A10" }]; }, "", ["sensors[0].pin: not a pin name (D0..D39, A0)"]],
  ["analog without pin", (c) => { c.sensors = [{ name: "a", type: "analog" }]; }, "", ["sensors[0].pin: required for type analog"]],
  ["memory with pin", (c) => { c.sensors = [{ name: "m", type: "memory", pin: "D2" }]; }, "", ["sensors[0].pin: not used by type memory"]],
  ["actuator without pin", (c) => { c.actuators = [{ name: "a", type: "digital" }]; }, "", ["actuators[0].pin: required"]],
  ["unknown actuator type", (c) => { c.actuators = [{ name: "a", type: "servo", pin: "D2" }]; }, "", ["actuators[0].type: unknown type servo (digital, pwm)"]],
  ["initial 2", (c) => { c.actuators = [{ name: "a", type: "pwm", pin: "D2", initial: 2 }]; }, "", ["actuators[0].initial: must be 0..1, true or false"]],
  ["initial as string", (c) => { c.actuators = [{ name: "a", type: "digital", pin: "D2", initial: "on" }]; }, "", ["actuators[0].initial: must be 0..1, true or false"]],
  ["freq 0", (c) => { c.actuators = [{ name: "a", type: "pwm", pin: "D2", freq: 0 }]; }, "", ["actuators[0].freq: must be > 0"]],
  ["invert as string", (c) => { c.actuators = [{ name: "a", type: "pwm", pin: "D2", invert: "yes" }]; }, "", ["actuators[0].invert: must be true or false"]],
  ["limits.inflight 0", (c) => { c.limits = { inflight: 0 }; }, "", ["limits.inflight: must be 1..19"]],
  ["limits.inflight 20", (c) => { c.limits = { inflight: 20 }; }, "", ["limits.inflight: must be 1..19"]],
  ["limits.queue 101", (c) => { c.limits = { queue: 101 }; }, "", ["limits.queue: must be 0..100"]],
  ["limits.max_packet 32", (c) => { c.limits = { max_packet: 32 }; }, "", ["limits.max_packet: must be 64..65536"]],
  ["limits unknown key", (c) => { c.limits = { burst: 2 }; }, "", ["limits.burst: unknown key"]],
  // battery boards and inputs
  ["sleep without every", (c) => { c.sleep = { awake: 5 }; }, "", ["sleep.every: required"]],
  ["sleep every 0", (c) => { c.sleep = { every: 0 }; }, "", ["sleep.every: must be > 0"]],
  ["sleep unknown key", (c) => { c.sleep = { every: 60, period: 5 }; }, "", ["sleep.period: unknown key"]],
  ["sleep not an object", (c) => { c.sleep = 300; }, "", ["sleep: must be an object"]],
  ["sleep awake not less than every", (c) => { c.sleep = { every: 10, awake: 10 }; }, "", ["sleep.awake: must be less than sleep.every (10 s)"], ""],
  ["name stay reserved", (c) => { c.sensors = [{ name: "stay", type: "memory" }]; }, "", ["sensors[0].name: stay is reserved (<base>/stay)"], ""],
  ["button without pin", (c) => { c.sensors = [{ name: "b", type: "button" }]; }, "", ["sensors[0].pin: required for type button"], "sensors[0].pin"],
  ["button debounce negative", (c) => { c.sensors = [{ name: "b", type: "button", pin: "D4", debounce: -1 }]; }, "", ["sensors[0].debounce: must be 0..10000"]],
  ["button active_high as number", (c) => { c.sensors = [{ name: "b", type: "button", pin: "D4", active_high: 1 }]; }, "", ["sensors[0].active_high: must be true or false"]],
  ["button multi_press too short", (c) => { c.sensors = [{ name: "b", type: "button", pin: "D4", multi_press: 50 }]; }, "", ["sensors[0].multi_press: must be 100..5000"]],
  ["button multi_press not an integer", (c) => { c.sensors = [{ name: "b", type: "button", pin: "D4", multi_press: 250.5 }]; }, "", ["sensors[0].multi_press: must be an integer"]],
  ["multi_press on a digital sensor", (c) => { c.sensors = [{ name: "d", type: "digital", pin: "D4", multi_press: 300 }]; }, "", ["sensors[0].multi_press: not used by type digital"], "sensors[0]"],
  ["debounce on an analog sensor", (c) => { c.sensors = [{ name: "a", type: "analog", pin: "D34", debounce: 20 }]; }, "", ["sensors[0].debounce: not used by type analog"], "sensors[0]"],
  ["bme280 without scl", (c) => { c.sensors = [{ name: "air", type: "bme280", sda: "D21" }]; }, "", ["sensors[0].scl: required for type bme280"], "sensors[0]"],
  ["bme280 with pin", (c) => { c.sensors = [{ name: "air", type: "bme280", sda: "D21", scl: "D22", pin: "D4" }]; }, "", ["sensors[0].pin: not used by type bme280"], "sensors[0]"],
  ["bme280 address 200", (c) => { c.sensors = [{ name: "air", type: "bme280", sda: "D21", scl: "D22", address: 200 }]; }, "", ["sensors[0].address: must be 0..127"]],
  ["address on a dht22", (c) => { c.sensors = [{ name: "air", type: "dht22", pin: "D4", address: 118 }]; }, "", ["sensors[0].address: not used by type dht22"], "sensors[0]"],
  ["bme280 sda not a pin name", (c) => { c.sensors = [{ name: "air", type: "bme280", sda: "SDA", scl: "D22" }]; }, "", ["sensors[0].sda: not a pin name (D0..D39, A0)"]],
  // board rules (the schema cannot know them)
  ["button on A0", (c) => { c.sensors = [{ name: "b", type: "button", pin: "A0" }]; }, "wemos-d1-mini", ["sensors[0].pin: A0 is not a digital pin on wemos-d1-mini"], ""],
  ["button on input-only pin is fine", (c) => { c.sensors = [{ name: "b", type: "button", pin: "D35", debounce: 20, active_high: true }]; }, "esp32-devkitc", [], ""],
  ["bme280 sda on input-only pin", (c) => { c.sensors = [{ name: "air", type: "bme280", sda: "D34", scl: "D22" }]; }, "esp32-devkitc", ["sensors[0].sda: D34 is input-only on esp32-devkitc"], ""],
  ["bme280 scl the board lacks", (c) => { c.sensors = [{ name: "air", type: "bme280", sda: "D4", scl: "D1" }]; }, "wemos-d1-mini", ["sensors[0].scl: D1 is not a pin of wemos-d1-mini"], ""],
  ["pin the board lacks", (c) => { c.sensors = [{ name: "a", type: "digital" }, { name: "b", type: "analog", pin: "D40" }]; }, "esp32-devkitc",
    ["sensors[0].pin: required for type digital", "sensors[1].pin: D40 is not a pin of esp32-devkitc"], "sensors[0].pin"],
  ["flash pin", (c) => { c.actuators = [{ name: "a", type: "digital", pin: "D6" }]; }, "esp32-devkitc", ["actuators[0].pin: D6 is not a pin of esp32-devkitc"], ""],
  ["analog on ADC2 pin", (c) => { c.sensors = [{ name: "a", type: "analog", pin: "D4" }]; }, "esp32-devkitc", ["sensors[0].pin: D4 has no ADC on esp32-devkitc"], ""],
  ["analog on digital-only ESP8266 pin", (c) => { c.sensors = [{ name: "a", type: "analog", pin: "D5" }]; }, "wemos-d1-mini", ["sensors[0].pin: D5 has no ADC on wemos-d1-mini"], ""],
  ["digital sensor on A0", (c) => { c.sensors = [{ name: "a", type: "digital", pin: "A0" }]; }, "esp8266-nodemcu", ["sensors[0].pin: A0 is not a digital pin on esp8266-nodemcu"], ""],
  ["dht22 on input-only pin", (c) => { c.sensors = [{ name: "a", type: "dht22", pin: "D34" }]; }, "esp32-devkitc", ["sensors[0].pin: D34 is input-only on esp32-devkitc"], ""],
  ["pwm on input-only pin", (c) => { c.actuators = [{ name: "a", type: "pwm", pin: "D34" }]; }, "esp32-devkitc", ["actuators[0].pin: D34 has no PWM on esp32-devkitc"], ""],
  ["digital actuator on input-only pin", (c) => { c.actuators = [{ name: "a", type: "digital", pin: "D39" }]; }, "esp32-devkitc", ["actuators[0].pin: D39 is input-only on esp32-devkitc"], ""],
  ["pwm on A0", (c) => { c.actuators = [{ name: "a", type: "pwm", pin: "A0" }]; }, "wemos-d1-mini", ["actuators[0].pin: A0 has no PWM on wemos-d1-mini"], ""],
  ["tls on ESP8266", (c) => { c.mqtt.tls = true; }, "esp8266-nodemcu", ["mqtt.tls: esp8266-nodemcu has no TLS"], ""],
  ["tls object on ESP8266", (c) => { c.mqtt.tls = { ca: "x" }; }, "wemos-d1-mini", ["mqtt.tls: wemos-d1-mini has no TLS"], ""],
];

for (const [what, change, board, expected, schemaPath] of cases) {
  test(`validateConfig: ${what}`, () => {
    const cfg = base();
    change(cfg);
    assert.deepEqual(validateConfig(clone(cfg), board ? compact(board) : undefined), expected);
    // the JSON Schema flags the same key (or, for conditional rules, its parent), unless the rule is the validator's own
    const p = schemaPath ?? expected[0].slice(0, expected[0].indexOf(": "));
    const got = schemaErrors(cfg).map((l) => l.slice(0, l.indexOf(": ")));
    if (p) assert.ok(got.some((g) => g == p || p.startsWith(g + ".") || p.startsWith(g + "[")), `schema errors ${JSON.stringify(schemaErrors(cfg))} miss ${p}`);
  });
}

test("validateConfig: good configs pass, with and without a board", () => {
  assert.deepEqual(validateConfig(base()), []);
  assert.deepEqual(schemaErrors(base()), []);
  const cfg = base();
  cfg.mqtt = { host: "h", port: 8883, tls: { ca: "-----BEGIN", cert: "c", key: "k" }, username: "u", password: "p", client_id: "c1", keep_alive: 65535, clean_session: false };
  cfg.status = "x/status"; cfg.base = "x";
  cfg.sensors = [
    { name: "status", type: "digital", pin: "D35", every: 0.5, qos: 2, retain: true, deadband: 0, heartbeat: 1, scale: -1, offset: 3 },
    { name: "on", type: "memory" }, { name: "constructor", type: "uptime" }, { name: "$t", type: "internal-temperature" },
    { name: "rssi-unit_0", type: "rssi" }, { name: "d", type: "ds18b20", pin: "D4" }, { name: "h", type: "dht22", pin: "D5" },
    { name: "a", type: "analog", pin: "D32" }, { name: "btn", type: "button", pin: "D0", debounce: 30 },
    { name: "air", type: "bme280", sda: "D21", scl: "D22", address: 119, every: 300, deadband: 0.5 },
  ];
  cfg.sleep = { every: 300, awake: 10 };
  cfg.actuators = [{ name: "l", type: "pwm", pin: "D2", initial: 0.5, freq: 50, invert: true, restore: true, qos: 0 },
    { name: "k", type: "digital", pin: "D33", initial: true }];
  cfg.limits = { inflight: 19, queue: 0, max_packet: 65536 };
  cfg.$schema = "../src/device/config.schema.json";
  assert.deepEqual(validateConfig(clone(cfg), compact("esp32-devkitc")), []);
  assert.deepEqual(schemaErrors(cfg), []);
  // pins are only checked against a board
  const any = base();
  any.sensors = [{ name: "a", type: "analog", pin: "D40" }];
  assert.deepEqual(validateConfig(any), []);
  // a client_id with wildcards is fine when base is given
  const cid = base(); cid.mqtt.client_id = "a+b"; cid.base = "x";
  assert.deepEqual(validateConfig(cid), []);
});

test("validateConfig: wifi is optional on a board without WiFi; servers replace host", () => {
  const wired = base();
  delete wired.wifi;
  assert.deepEqual(validateConfig(clone(wired), { wifi: false }), []);
  assert.deepEqual(validateConfig(clone(wired), { ...compact("esp32-devkitc"), wifi: false }), []);
  assert.deepEqual(schemaErrors(wired), []);
  // {wifi: false} alone (the runtime without mote.board) checks no pins and no TLS
  wired.mqtt.tls = true; wired.sensors = [{ name: "a", type: "analog", pin: "D40" }];
  assert.deepEqual(validateConfig(clone(wired), { wifi: false }), []);
  const cluster = base();
  cluster.mqtt = { servers: [{ host: "n1", port: 1883 }, { host: "n2" }], client_id: "c" };
  assert.deepEqual(validateConfig(clone(cluster), compact("esp32-devkitc")), []);
  assert.deepEqual(schemaErrors(cluster), []);
  cluster.mqtt = { client_id: "c" };
  assert.deepEqual(validateConfig(clone(cluster)), ["mqtt.host: required"]);
  assert.ok(schemaErrors(cluster).some((l) => l.startsWith("mqtt.host: ")), JSON.stringify(schemaErrors(cluster)));
});

test("validateConfig: not an object", () => {
  for (const v of [null, [], "x", 5]) assert.deepEqual(validateConfig(v), ["config: must be a JSON object"]);
});

test("validateConfig: one message per key, several keys at once", () => {
  const cfg = base();
  cfg.mqtt.port = "x"; cfg.mqtt.keep_alive = -1; cfg.sensors = [{ name: "a", type: "analog", pin: 7 }];
  assert.deepEqual(validateConfig(cfg, compact("esp32-devkitc")), [
    "mqtt.port: must be a number", "mqtt.keep_alive: must be 1..65535", "sensors[0].pin: must be a string"]);
});

test("validateConfig drops bad values so that applyDefaults replaces them", () => {
  const cfg = base();
  cfg.mqtt.keep_alive = 0; cfg.mqtt.port = "1883"; cfg.sensors = [{ name: "m", type: "memory", every: -1 }];
  assert.equal(validateConfig(cfg).length, 3);
  applyDefaults(cfg, "abc", true);
  assert.equal(cfg.mqtt.keep_alive, 60);
  assert.equal(cfg.mqtt.port, 1883);
  assert.equal(cfg.sensors[0].every, 60);
});

test("applyDefaults: every default", () => {
  const cfg = base();
  cfg.sensors = [{ name: "m", type: "memory" }];
  cfg.actuators = [{ name: "l", type: "digital", pin: "D2", initial: true }, { name: "p", type: "pwm", pin: "D4" }];
  assert.equal(applyDefaults(cfg, "a4cf12", true), cfg);
  assert.deepEqual(cfg, {
    wifi: { ssid: "net", password: "" },
    mqtt: { host: "broker", client_id: "a4cf12", tls: false, keep_alive: 60, clean_session: true, port: 1883 },
    base: "mote/a4cf12", status: "mote/a4cf12/status",
    limits: { inflight: 8, queue: 8, max_packet: 1024 },
    sensors: [{ name: "m", type: "memory", every: 60, qos: 0, retain: false, deadband: 0, heartbeat: 10, scale: 1, offset: 0 }],
    actuators: [{ name: "l", type: "digital", pin: "D2", initial: 1, invert: false, restore: false, qos: 1 },
      { name: "p", type: "pwm", pin: "D4", initial: 0, invert: false, restore: false, qos: 1 }],
  });
});

test("applyDefaults without items (the board): sensors and actuators left as they are", () => {
  const cfg = base();
  cfg.sensors = [{ name: "m", type: "memory" }];
  cfg.actuators = [{ name: "l", type: "digital", pin: "D2" }];
  applyDefaults(cfg, "x");
  assert.deepEqual(cfg.sensors, [{ name: "m", type: "memory" }]);
  assert.deepEqual(cfg.actuators, [{ name: "l", type: "digital", pin: "D2" }]);
  // The client's own defaults are not stored on the board either (runtime.test.ts: "mqtt defaults").
  assert.deepEqual(cfg.mqtt, { host: "broker", client_id: "x", port: 1883 });
});

test("applyDefaults: tls port, given base, explicit values kept, broken sections", () => {
  const cfg = applyDefaults({ wifi: { ssid: "n", password: "p" }, mqtt: { host: "h", tls: true, client_id: "me" }, base: "b/c", limits: { queue: 2 } }, "x");
  assert.equal(cfg.mqtt.port, 8883);
  assert.equal(cfg.mqtt.client_id, "me");
  assert.equal(cfg.base, "b/c");
  assert.equal(cfg.status, "b/c/status");
  assert.equal(cfg.wifi.password, "p");
  assert.deepEqual(cfg.limits, { queue: 2, inflight: 8, max_packet: 1024 });
  const broken = applyDefaults({ wifi: "x", sensors: "y", actuators: {}, limits: [] }, "s1");
  assert.deepEqual(broken.sensors, []);
  assert.deepEqual(broken.actuators, []);
  assert.equal(broken.mqtt.client_id, "s1");
  assert.equal(broken.wifi.password, "");
  assert.equal(broken.limits.inflight, 8);
});

test("compactBoard", () => {
  const esp32 = compact("esp32-devkitc");
  assert.equal(esp32.id, "esp32-devkitc");
  assert.equal(esp32.tls, true);
  assert.equal(esp32.wifi, true);
  for (const p of ["D0:dp", "D32:dpa", "D34:ia", "D39:ia"]) assert.ok(esp32.pins.split(" ").includes(p), p);
  const d1 = compact("wemos-d1-mini");
  assert.equal(d1.tls, false);
  assert.equal(d1.pins, "D0:dp D2:dp D4:dp D5:dp D12:dp D13:dp D14:dp D15:dp D16:dp A0:a");
  assert.ok(JSON.stringify(esp32).length < 300, "the table the board reads stays small");
});

test("examples in boards/examples are valid for their board (validator and schema)", () => {
  const files = readdirSync(join(ROOT, "boards/examples")).filter((f) => f.endsWith(".json"));
  assert.deepEqual(files.map((f) => f.slice(0, -5)).sort(), BOARDS);
  for (const f of files) {
    const cfg = JSON.parse(readFileSync(join(ROOT, "boards/examples", f), "utf8"));
    assert.deepEqual(checkConfig(cfg, loadBoard(f.slice(0, -5))), [], f);
    assert.deepEqual(schemaErrors(cfg), [], f);
  }
});

test("board files follow boards/board.schema.json and the facts", () => {
  assert.deepEqual(boardIds(), BOARDS);
  const Ajv: any = (AjvModule as any).default || AjvModule;
  const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(readFileSync(join(ROOT, "boards/board.schema.json"), "utf8")));
  for (const id of BOARDS) {
    const b = loadBoard(id);
    assert.ok(validate(b), `${id}: ${JSON.stringify(validate.errors)}`);
    assert.equal(b.id, id);
    if (b.led) assert.ok(b.pins[b.led].includes("digital"), `${id} led`);
    for (const p of Object.keys(b.reserved || {})) assert.ok(!(p in b.pins), `${id}: ${p} both usable and reserved`);
    for (const p of Object.values(b.silkscreen || {}) as string[]) assert.ok(p in b.pins || p in b.reserved, `${id}: silkscreen ${p}`);
  }
  const esp32 = loadBoard("esp32-devkitc");
  assert.equal(esp32.led, null);
  assert.deepEqual([esp32.chunk, esp32.vars, esp32.tls, esp32.storage_bytes], [536, 16383, true, 917504]);
  assert.deepEqual(Object.keys(esp32.pins).filter((p) => esp32.pins[p].includes("adc")), ["D32", "D33", "D34", "D35", "D36", "D39"]);
  assert.deepEqual(Object.keys(esp32.pins).filter((p) => esp32.pins[p].includes("input")), ["D34", "D35", "D36", "D39"]);
  for (const id of ["esp8266-nodemcu", "wemos-d1-mini"]) {
    const b = loadBoard(id);
    assert.deepEqual([b.chunk, b.vars, b.tls, b.storage_bytes, b.led], [268, 1600, false, 196608, "D2"]);
    assert.deepEqual(Object.keys(b.pins).filter((p) => b.pins[p].includes("adc")), ["A0"]);
    assert.equal(b.silkscreen.D1, "D5");
    assert.ok(!b.modules.includes("tls"));
  }
});
