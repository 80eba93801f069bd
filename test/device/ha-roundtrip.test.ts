// Round trip through a Home Assistant stand-in (test/support/ha.ts, mqtt.js, real Mosquitto): it reads
// the discovery as Home Assistant does (abbreviations, `~`, shared options), follows each declared state
// topic to a value, sends each declared command payload on each command topic, and checks that the
// actuator in the simulated board moves and that the state shown is what the discovery declares.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mqttjsClient, waitFor, sleep } from "../support/util.js";
import { FakeHomeAssistant, type Entity } from "../support/ha.js";
import { bootBoard, ALL_TYPES, PKG_VERSION, haSuite } from "./ha-common.js";

const suite = haSuite(), { boards, has } = suite;

async function roundTrip(node: string, perEntity: boolean) {
  const ha = new FakeHomeAssistant(suite.broker.url);
  has.push(ha);
  await ha.start();
  const b = bootBoard(suite.broker.port, node, { homeassistant: { per_entity: perEntity }, diag_every: 1, ...ALL_TYPES });
  boards.push(b);
  const { board, base } = b;
  board.pins.setAnalog("D34", 0.5);
  board.pins.set("D5", 1);
  board.sensors.setDht22("D4", { temp: 21.5, rh: 40 });
  board.sensors.setDs18b20("D18", 18.25);
  board.sensors.setTemperature(45);
  board.sensors.setRssi(-61);
  // The retained <base>/info of docs/remote-protocol.md (published by mote-info, another issue's module,
  // with fw the runtime's version, m.v).
  const fw = board.run("mote.v");
  assert.equal(fw, PKG_VERSION, "the runtime's version is package.json's");
  const pub = await mqttjsClient(suite.broker.url);
  await pub.publishAsync(`${base}/info`, JSON.stringify({ fw, hash: "ab", alg: "sha256", board: "esp32-devkitc", id: node,
    cfg: "cd", free: 1000, boot: "power", n: 0, remote: false }), { qos: 1, retain: true });
  await pub.endAsync();

  const ent = (k: string) => ha.entity(node, k) as Entity;
  const keys = ["level", "door", "chip", "free", "up", "signal", "air_temperature", "air_humidity", "water", "relay", "fan",
    "diag_vars_free", "diag_rssi", "diag_uptime", "diag_reconnects", "diag_dropped", "restart", "firmware"];
  await waitFor(() => keys.every((k) => ent(k)), 10000, () => `discovery of ${keys.filter((k) => !ent(k))}`);
  // Every entity with a state topic gets a valid state, and the board's status makes them available.
  const withState = keys.filter((k) => ent(k).config.state_topic);
  await waitFor(() => withState.every((k) => ent(k).state !== undefined && ent(k).available), 10000,
    () => `states: ${withState.filter((k) => ent(k).state === undefined || !ent(k).available)}`);
  assert.deepEqual(ha.errors, []);
  const st = (k: string) => ent(k).state;
  assert.equal(st("level"), "0.5");
  assert.equal(st("door"), "on", "digital sensor high: payload_on");
  assert.deepEqual([st("chip"), st("air_temperature"), st("air_humidity"), st("water"), st("signal")], ["45", "21.5", "40", "18.25", "-61"]);
  assert.equal(st("fan"), "0.25", "pwm initial 0.25 on the number");
  assert.equal(st("relay"), "off");
  assert.equal(st("firmware"), PKG_VERSION, "update: installed version from <base>/info");
  assert.deepEqual([ha.devices.get(node).sw_version, ha.origins.get(node).sw_version, ha.devices.get(node).manufacturer],
    [PKG_VERSION, PKG_VERSION, "mote"], "the device's sw and the origin's (in the registry): the same version as the update entity's");
  assert.equal(st("diag_rssi"), "-61");
  assert.ok(Number(st("diag_vars_free")) > 0 && Number(st("diag_uptime")) >= 0);
  board.pins.set("D5", 0);
  await waitFor(() => st("door") == "off", 5000, "door off");

  // Commands: each declared payload moves the actuator and the state shown follows.
  const relay = ent("relay");
  for (const [payload, level, shown] of [[relay.config.payload_on, 1, "on"], [relay.config.payload_off, 0, "off"]] as const) {
    await ha.command(relay, payload);
    await waitFor(() => board.pins.state("D26").out === level && st("relay") == shown, 5000, `relay ${payload}`);
  }
  const fan = ent("fan");
  assert.deepEqual([fan.config.min, fan.config.max], [0, 1]);
  // What Home Assistant's number sends: str() of the value, an int when it is one.
  for (const [payload, duty] of [["0.5", 0.5], ["1", 1], ["0", 0], ["0.75", 0.75]] as const) {
    await ha.command(fan, payload);
    await waitFor(() => board.pins.state("D25").duty === duty && st("fan") == String(duty), 5000, `fan ${payload}`);
  }
  for (const k of keys) assert.deepEqual(ent(k).bad, [], `${k}: payloads that matched nothing declared`);

  // The restart button: its payload (default PRESS) on its command topic restarts the board, which
  // announces itself again.
  const restart = ent("restart");
  assert.equal(restart.config.device_class, "restart");
  const before = board.logs.filter((l) => l.includes("homeassistant: announced")).length;
  await ha.command(restart, restart.config.payload_press ?? "PRESS");
  await waitFor(() => board.reboots == 1, 5000, "reboot");
  await waitFor(() => board.logs.filter((l) => l.includes("homeassistant: announced")).length > before, 8000, "announce after restart");
  await waitFor(() => ent("relay").available, 5000, "available again");
  assert.deepEqual(ha.errors, []);
  assert.deepEqual(ha.ghosts(), []);
}

test("device mode: states follow the declared topics and payloads; commands move the actuators", () => roundTrip("rtdev", false));
test("per-entity mode: the same round trip", () => roundTrip("rtent", true));

// Actuators of the user's code (mote-script): without min/max a switch, with them a number. Their set()
// gets Home Assistant's payload as it is; the state echoed is what set() returns (the heater) or the
// payload itself (the thermostat's target), and must read back as what Home Assistant sent.
const USER = `
var heat = 0, target = 20;
mote.actuator({ name: "heater", initial: 0, set: function (v) { heat = v == "1" ? 1 : 0; return heat; } });
mote.actuator({ name: "target", initial: 20, min: 5, max: 30, step: 0.5, unit: "\u00b0C", set: function (v) {
  var n = Number(v);
  if (!(n >= 5 && n <= 30)) return false;
  target = n;
} });
`;

for (const perEntity of [false, true]) {
  test(`${perEntity ? "per-entity" : "device"} mode: user actuators as a switch and a number; commands move them and the states match`, async () => {
    const node = perEntity ? "rtusere" : "rtuserd";
    const ha = new FakeHomeAssistant(suite.broker.url);
    has.push(ha);
    await ha.start();
    const b = bootBoard(suite.broker.port, node, { homeassistant: { per_entity: perEntity } }, { user: USER, diag: false, sim: { bytes: true } });
    boards.push(b);
    const { board } = b;
    const ent = (k: string) => ha.entity(node, k) as Entity;
    await waitFor(() => !!ent("heater") && !!ent("target"), 10000, "discovery of the user actuators");
    const heater = ent("heater"), target = ent("target");
    assert.deepEqual([heater.platform, target.platform], ["switch", "number"]);
    assert.deepEqual([target.config.min, target.config.max, target.config.step, target.config.unit_of_measurement], [5, 30, 0.5, "°C"]);
    await waitFor(() => ent("heater").state == "off" && ent("target").state == "20" && ent("heater").available, 5000, "initial states");

    for (const [payload, heat, shown] of [[heater.config.payload_on, 1, "on"], [heater.config.payload_off, 0, "off"]] as const) {
      await ha.command(heater, payload);
      await waitFor(() => board.run("heat") === heat && ent("heater").state == shown, 5000, `heater ${payload}`);
    }
    // What Home Assistant's number sends: str() of the value, an int when it is one.
    for (const [payload, value] of [["21.5", 21.5], ["5", 5], ["30", 30], ["17", 17]] as const) {
      await ha.command(target, payload);
      await waitFor(() => board.run("target") === value && ent("target").state == String(value), 5000, `target ${payload}`);
    }
    // Out of range (not what Home Assistant sends, but someone may): refused, the state stays.
    await ha.command(target, "31");
    await sleep(300);
    assert.equal(board.run("target"), 17);
    assert.equal(ent("target").state, "17");
    for (const k of ["heater", "target"]) assert.deepEqual(ent(k).bad, [], `${k}: payloads that matched nothing declared`);
    assert.deepEqual(ha.errors, []);
    assert.deepEqual(board.errors, []);
  });
}

// A button with multi_press: besides its binary sensor, one device trigger per count of 1 to 5 presses.
// Home Assistant's stand-in subscribes to each trigger's topic and counts the messages with its payload:
// a double press fires the double-press trigger once, and no other.
for (const perEntity of [false, true]) {
  test(`${perEntity ? "per-entity" : "device"} mode: a multi-press button fires the device trigger of its count`, async () => {
    const node = perEntity ? "rttrige" : "rttrigd";
    const ha = new FakeHomeAssistant(suite.broker.url);
    has.push(ha);
    await ha.start();
    const b = bootBoard(suite.broker.port, node, { homeassistant: { per_entity: perEntity },
      sensors: [{ name: "hall light", type: "button", pin: "D27", debounce: 10, multi_press: 250 }] }, { diag: false });
    boards.push(b);
    const { board } = b;
    const kinds = ["short", "double", "triple", "quadruple", "quintuple"];
    const trig = (n: number) => ha.entity(node, `hall_light_presses_${n}`) as Entity;
    await waitFor(() => [1, 2, 3, 4, 5].every((n) => trig(n)) && !!ha.entity(node, "hall_light"), 10000, "discovery of the triggers");
    assert.deepEqual(ha.errors, []);
    for (let n = 1; n <= 5; n++) {
      const c = trig(n).config;
      assert.deepEqual([trig(n).platform, c.automation_type, c.topic, c.type, c.subtype, c.payload],
        ["device_automation", "trigger", `${b.base}/hall light/presses`, `button_${kinds[n - 1]}_press`, "hall light", String(n)]);
    }
    await waitFor(() => !!ha.entity(node, "hall_light")?.available, 5000, "available");
    // Two presses 80 ms apart, each bouncing: one series of 2.
    for (let i = 0; i < 2; i++) {
      await board.bounce("D27", 0, 4, 2);
      await sleep(60);
      await board.bounce("D27", 1, 4, 2);
      await sleep(80);
    }
    await waitFor(() => trig(2).fired == 1, 3000, "the double-press trigger");
    await sleep(400);
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => trig(n).fired), [0, 1, 0, 0, 0]);
    assert.equal(ha.entity(node, "hall_light")!.state, "off", "the binary sensor shows released");
    assert.deepEqual(board.errors, []);
  });
}
