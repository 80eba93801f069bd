// Every discovery payload mote-ha announces, in device mode and in per-entity mode, for configs
// covering every sensor and actuator type, checked against Home Assistant's documented schema
// (test/support/ha.ts: keys per platform, required keys, topic and id rules; an unknown key fails).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import { startMosquitto, type MosquittoInstance } from "../support/mosquitto.js";
import { mqttjsClient, sleep } from "../support/util.js";
import { readDiscovery, ID } from "../support/ha.js";
import { bootBoard, ALL_TYPES, FW, PKG_VERSION, type Booted } from "./ha-common.js";

let broker: MosquittoInstance;
let watcher: MqttClient;
const seen: { topic: string; text: string; retain: boolean }[] = [];
const boards: Booted[] = [];

before(async () => {
  assert.ok(existsSync(join(FW, "mote-ha-announce.js")), "run npm run build first");
  broker = await startMosquitto();
  watcher = await mqttjsClient(broker.url);
  watcher.on("message", (topic, m, p) => seen.push({ topic, text: m.toString("utf8"), retain: p.retain }));
  await watcher.subscribeAsync("homeassistant/#", { qos: 1 });
});
after(async () => {
  for (const b of boards) b.board.close();
  await watcher?.endAsync();
  await broker?.stop();
});

// Issue 14's sensor types (bme280, button) and sleep, in a config the validator accepts; the sensor and
// actuators only a user's code can make (mote-script, mote-user.js): a sensor with its own unit, device
// and state class, a switch, and a number with min/max/step/unit.
const ISSUE14 = {
  sensors: [
    { name: "climate", type: "bme280", sda: "D21", scl: "D22", address: 0x76, every: 60 },
    { name: "knob", type: "button", pin: "D27", multi_press: 400 },
  ],
  sleep: { every: 300, awake: 20 },
};
const USER = `
mote.sensor({ name: "co2", every: 1, unit: "ppm", device_class: "carbon_dioxide", state_class: "measurement", read: function () { return 415; } });
mote.actuator({ name: "heater", initial: 0, set: function (v) { return v == "1" ? 1 : 0; } });
mote.actuator({ name: "target", initial: 20, min: 5, max: 30, step: 0.5, unit: "°C", set: function (v) { return +v; } });
`;

// The boards are built without Unicode support, as the ESP32/ESP8266 firmware is (sim bytes): the user's
// file in Storage holds "°C" as its UTF-8 bytes, and they go out as such.
async function announceAll(node: string, perEntity: boolean): Promise<Booted> {
  // A retained "1" on <base>/stay keeps the sleeping board awake (mote-sleep's maintenance switch): the
  // test reads what it announces, not its sleep cycle.
  await watcher.publishAsync(`ha/${node}/stay`, "1", { qos: 1, retain: true });
  const b = bootBoard(broker.port, node, {
    homeassistant: perEntity ? { per_entity: true } : true, diag_every: 300,
    sensors: [...ALL_TYPES.sensors, ...ISSUE14.sensors], actuators: ALL_TYPES.actuators, sleep: ISSUE14.sleep,
  }, { user: USER, sim: { bytes: true } });
  boards.push(b);
  await b.board.waitFor(() => b.board.logs.some((l) => l.includes("homeassistant: announced")), 8000, "announce");
  // A valid config: nothing skipped, no error; the user's items are in the lists HA's announce reads.
  assert.deepEqual(b.board.json("mote.errors"), []);
  assert.equal(b.board.run("mote.bad"), "");
  assert.deepEqual(b.board.json("mote.c.actuators.map(function (a) { return a.type; })"), ["digital", "pwm", "user", "user"]);
  await sleep(300);
  return b;
}

const EXPECTED: [string, string][] = [
  ["sensor", "level"], ["binary_sensor", "door"], ["sensor", "chip"], ["sensor", "free"], ["sensor", "up"], ["sensor", "signal"],
  ["sensor", "air_temperature"], ["sensor", "air_humidity"], ["sensor", "water"],
  ["sensor", "climate_temperature"], ["sensor", "climate_humidity"], ["sensor", "climate_pressure"],
  ["binary_sensor", "knob"], ...[1, 2, 3, 4, 5].map((n): [string, string] => ["device_automation", `knob_presses_${n}`]),
  ["sensor", "co2"], ["switch", "relay"], ["number", "fan"], ["switch", "heater"], ["number", "target"],
  ["sensor", "diag_vars_free"], ["sensor", "diag_rssi"], ["sensor", "diag_uptime"], ["sensor", "diag_reconnects"],
  ["sensor", "diag_dropped"], ["button", "restart"], ["update", "firmware"],
];

/** What a new subscriber gets as retained on `filter`: topic -> payload. */
async function retained(filter: string): Promise<Map<string, string>> {
  const c = await mqttjsClient(broker.url);
  const got = new Map<string, string>();
  c.on("message", (t, m, p) => { if (p.retain) got.set(t, m.toString("utf8")); });
  await c.subscribeAsync(filter);
  await sleep(300);
  await c.endAsync();
  return got;
}

async function check(node: string, topics: string[]) {
  const errors: string[] = [];
  const entities = new Map<string, any>();
  const kept = await retained(`homeassistant/+/${node}/#`);
  for (const t of topics) {
    assert.ok(kept.has(t), `${t} retained`);
    const r = readDiscovery("homeassistant", t, kept.get(t)!);
    errors.push(...r.errors);
    for (const c of r.components) if (Object.keys(c.config).length) entities.set(`${c.platform} ${c.config.unique_id}`, c.config);
  }
  assert.deepEqual(errors, []);
  assert.deepEqual([...entities.keys()].sort(), EXPECTED.map(([p, k]) => `${p} ${node}_${k}`).sort());
  // The device as Home Assistant's registry ends up with it: every config's dev merged, each key given
  // updating it (HAcore mqtt entity.py device_info_from_specifications takes only the keys present).
  // Per-entity configs after the first name the device by its id alone, and give no origin.
  const device: any = {}, origin: any = {};
  for (const c of entities.values()) { Object.assign(device, c.device); Object.assign(origin, c.origin ?? {}); }
  // The firmware version from package.json, through the build (version.ts) and the runtime (m.v).
  assert.deepEqual([device.sw_version, origin.sw_version, device.name, device.manufacturer], [PKG_VERSION, PKG_VERSION, node, "mote"]);
  for (const c of entities.values()) {
    assert.match(c.unique_id, ID);
    assert.equal(c.device.identifiers[0], node);
    assert.equal(c.availability_topic, `ha/${node}/status`);
    if (c.platform == "sensor" && !c.entity_category || c.unique_id.endsWith("_door")) assert.equal(c.expire_after, 660, `${c.unique_id}: 2 x 300 + 3 x 20`);
  }
  assert.equal(entities.get(`binary_sensor ${node}_knob`).expire_after, undefined, "a button sensor does not expire");
  assert.equal(entities.get(`sensor ${node}_climate_pressure`).unit_of_measurement, "hPa");
  assert.equal(entities.get(`sensor ${node}_air_temperature`).unit_of_measurement, "°C");
  assert.deepEqual([entities.get(`sensor ${node}_co2`).unit_of_measurement, entities.get(`sensor ${node}_co2`).device_class,
    entities.get(`sensor ${node}_co2`).state_class], ["ppm", "carbon_dioxide", "measurement"]);
  assert.equal(entities.get(`sensor ${node}_co2`).state_topic, `ha/${node}/co2`);
  const heater = entities.get(`switch ${node}_heater`), target = entities.get(`number ${node}_target`);
  assert.deepEqual([heater.command_topic, heater.state_topic, heater.payload_on, heater.payload_off],
    [`ha/${node}/heater/set`, `ha/${node}/heater`, "1", "0"]);
  assert.deepEqual([target.command_topic, target.state_topic, target.min, target.max, target.step, target.unit_of_measurement],
    [`ha/${node}/target/set`, `ha/${node}/target`, 5, 30, 0.5, "°C"]);
  return entities;
}

test("device mode: one retained config on <prefix>/device/<node>/config, every component valid", async () => {
  const { base } = await announceAll("schemadev", false);
  const topics = [...new Set(seen.filter((s) => s.topic.includes("/schemadev")).map((s) => s.topic))];
  assert.deepEqual(topics, ["homeassistant/device/schemadev/config"]);
  const e = await check("schemadev", topics);
  assert.equal(e.get("switch schemadev_relay").command_topic, `${base}/relay/set`);
  assert.equal(e.get("update schemadev_firmware").state_topic, `${base}/info`);
});

test("per-entity mode: one retained config per entity on <prefix>/<component>/<node>/<key>/config", async () => {
  await announceAll("schemaent", true);
  const topics = [...new Set(seen.filter((s) => s.topic.includes("/schemaent/")).map((s) => s.topic))];
  for (const t of topics) assert.match(t, /^homeassistant\/(sensor|binary_sensor|switch|number|button|update|device_automation)\/schemaent\/[a-zA-Z0-9_-]+\/config$/);
  assert.deepEqual(topics.filter((t) => !seen.some((s) => s.topic == t && s.text)), [], "every topic has a config");
  assert.equal(topics.length, EXPECTED.length, topics.join(" "));
  await check("schemaent", topics);
});

test("the schema check fails on what Home Assistant would refuse", () => {
  const ok = { dev: { ids: ["n"] }, o: { name: "mote" }, cmps: { a: { p: "sensor", uniq_id: "n_a", stat_t: "x/a" } } };
  assert.deepEqual(readDiscovery("homeassistant", "homeassistant/device/n/config", JSON.stringify(ok)).errors, []);
  const bad = (f: (o: any) => void, topic = "homeassistant/device/n/config") => {
    const o = structuredClone(ok);
    f(o);
    return readDiscovery("homeassistant", topic, JSON.stringify(o)).errors.join("; ");
  };
  assert.match(bad((o) => { o.cmps.a.state_tpoic = "x"; }), /unknown key state_tpoic/);
  assert.match(bad((o) => { delete o.cmps.a.uniq_id; }), /uniq_id required/);
  assert.match(bad((o) => { delete o.o.name; }), /o.name required/);
  assert.match(bad((o) => { o.dev = { name: "x" }; }), /dev.ids or dev.cns required/);
  assert.match(bad((o) => { delete o.cmps.a.p; }), /p undefined missing/);
  assert.match(bad((o) => { delete o.cmps.a.stat_t; }), /state_topic required/);
  assert.match(bad((o) => { o.cmps.a.pl_on = "1"; }), /unknown key pl_on/);
  assert.match(bad((o) => { o.cmps.a.val_tpl = "{{ value | int }}"; }), /not of the form/);
  assert.match(bad((o) => { o.cmps.a.dev_cla = "temperature"; o.cmps.a.unit_of_meas = "%"; }), /not valid for device class/);
  assert.match(bad(() => {}, "homeassistant/device/n.x/config"), /outside \[a-zA-Z0-9_-\]/);
  assert.match(bad((o) => { o.cmps.a.ent_cat = "config"; }), /cannot be ent_cat config/);
});
