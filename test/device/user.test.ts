// The user's own code (mote-user.js, feature mote-script) in the simulator against Mosquitto: the API end
// to end, exceptions at load and in callbacks reported on <base>/error with file and line while the
// board stays up, user sensors in deep-sleep cycles, and the example scripts of boards/examples/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startMosquitto, type MosquittoInstance } from "../support/mosquitto.js";
import { retainedText } from "../support/util.js";
import { ROOT } from "../../src/tools/config-check.js";
import { Rig, sleep } from "./rig.js";

let broker: MosquittoInstance;
let rig: Rig;

before(async () => {
  broker = await startMosquitto();
  rig = new Rig(broker.url, broker.port, "usr");
  await rig.start();
});
after(async () => {
  await rig?.stop();
  await broker?.stop();
});

const API = `
var n = 0;
mote.log("user code running");
mote.sensor({ name: "count", every: 0.1, deadband: 0, unit: "x", state_class: "total_increasing", read: function () { return ++n; } });
mote.sensor({ name: "later", every: 0.1, deadband: 1, read: function (cb) { mote.after(5, function () { cb(n * 10); }); } });
var level = 0;
mote.actuator({ name: "dimmer", initial: 0, set: function (msg) {
  var v = Number(msg);
  if (!(v >= 0 && v <= 100)) return false;
  level = v;
  return v;
} });
mote.subscribe("echo/+", function (msg, topic) { mote.publish("echoed", { topic: topic, msg: msg }); });
mote.every(100, function () { if (n == 5) mote.publish("five", true, { qos: 1, retain: true }); });
mote.client.on("connected", function () { mote.publish("hello", "from the mote-mqtt client"); });
`;

test("API: sensors published and deadbanded, an actuator obeying <base>/<name>/set, subscribe/publish under base, timers, the client", async () => {
  const { board, base } = rig.device({}, { user: API });
  await rig.until(() => rig.on(`${base}/count`).length >= 4, "user sensor readings");
  const counts = rig.texts(`${base}/count`).map(Number);
  assert.deepEqual(counts, counts.map((_, i) => counts[0] + i), "every reading published (deadband 0, each one moved)");
  await rig.until(() => rig.on(`${base}/later`).length >= 2, "callback sensor");
  const later = rig.texts(`${base}/later`).map(Number);
  assert.ok(later.every((v) => v % 10 == 0), later.join(","));
  await rig.until(() => rig.last(`${base}/five`)?.text == "true", "every() with publish");
  assert.equal(rig.last(`${base}/hello`)?.text, "from the mote-mqtt client");
  // Listed like built-in sensors, with type user (npm start and Home Assistant read them there).
  const sensors = board.json(`mote.c.sensors.map(function (s) { return {name: s.name, type: s.type, unit: s.unit, state_class: s.state_class}; })`);
  assert.deepEqual(sensors, [{ name: "count", type: "user", unit: "x", state_class: "total_increasing" }, { name: "later", type: "user" }]);
  // The actuator: echoed at connect, then set, a refused command leaves it as it was.
  await rig.until(() => rig.last(`${base}/dimmer`)?.text == "0", "initial echo");
  await rig.watcher.publishAsync(`${base}/dimmer/set`, "42", { qos: 1 });
  await rig.until(() => rig.last(`${base}/dimmer`)?.text == "42", "set");
  assert.equal(rig.last(`${base}/dimmer`)?.retain, false, "live echo (retained at the broker)");
  await rig.watcher.publishAsync(`${base}/dimmer/set`, "400", { qos: 1 });
  await sleep(300);
  assert.equal(rig.last(`${base}/dimmer`)?.text, "42");
  assert.equal(board.run("level"), 42);
  // subscribe with a wildcard: the handler gets the message and the subtopic.
  await rig.watcher.publishAsync(`${base}/echo/abc`, "hi", { qos: 1 });
  await rig.until(() => !!rig.last(`${base}/echoed`), "echoed");
  assert.deepEqual(JSON.parse(rig.last(`${base}/echoed`)!.text), { topic: "echo/abc", msg: "hi" });
  assert.ok(board.logs.includes("mote: user code running"));
  assert.deepEqual(rig.texts(`${base}/error`), [""]);
  assert.equal(rig.last(`${base}/status`)?.text, "online");
  assert.deepEqual(board.errors, []);
  // Once started, the feature module holds nothing in require's cache (runtime.ts's feature()).
  assert.equal(board.run(`Modules.getCached().indexOf("mote-script")`), -1);
});

test("a script throwing at load is reported with its line; the board and the rest of the runtime stay up", async () => {
  const { board, base } = rig.device({ sensors: [{ name: "up", type: "uptime", every: 0.1 }] }, {
    user: `var a = 1;\nmote.log("before");\nnotDefined.call();\nmote.log("after");\n`,
  });
  await rig.until(() => rig.last(`${base}/status`)?.text == "error", "status error");
  const err = rig.last(`${base}/error`)!.text;
  assert.match(err, /^mote-user\.js:3: ReferenceError: .*notDefined/);
  assert.equal(await retainedText(broker.url, `${base}/error`), err, "kept retained with the config errors");
  await rig.until(() => rig.on(`${base}/up`).length >= 3, "built-in sensors run");
  assert.ok(board.logs.includes("mote: before") && !board.logs.includes("mote: after"));
  assert.deepEqual(board.errors, [], "nothing uncaught");
});

test("a syntax error and a bad API call at load are reported too", async () => {
  const a = rig.device({}, { user: `var x = ;\n` });
  await rig.until(() => rig.last(`${a.base}/status`)?.text == "error", "status error");
  assert.match(rig.last(`${a.base}/error`)!.text, /^mote-user\.js(:1)?: SyntaxError: /);
  const b = rig.device({ sensors: [{ name: "up", type: "uptime" }] }, { user: `mote.sensor({ name: "up", read: function () { return 1; } });\n` });
  await rig.until(() => rig.last(`${b.base}/status`)?.text == "error", "status error");
  assert.match(rig.last(`${b.base}/error`)!.text, /^mote-user\.js:1: Error: sensor: up is taken$/);
  // An actuator's min/max (what Home Assistant's number would be declared with) checked, not announced wrong.
  const c = rig.device({}, { user: `mote.actuator({ name: "ok", min: 0, max: 1, step: 0.1, set: function () {} });\n` +
    `mote.actuator({ name: "half", min: 5, set: function () {} });\n` });
  await rig.until(() => rig.last(`${c.base}/status`)?.text == "error", "status error");
  assert.match(rig.last(`${c.base}/error`)!.text, /^mote-user\.js:2: Error: actuator half: min and max must be numbers, min < max$/);
  assert.deepEqual(c.board.json("mote.c.actuators.map(function (a) { return a.name; })"), ["ok"]);
  assert.deepEqual(a.board.errors, []);
  assert.deepEqual(b.board.errors, []);
  assert.deepEqual(c.board.errors, []);
});

test("exceptions in callbacks (timer, sensor read, subscription, actuator) are reported, not retained, and the board goes on", async () => {
  const { board, base } = rig.device({}, {
    user: [
      `var ticks = 0;`,
      `mote.every(100, function () {`,
      `  if (++ticks == 2) null.boom;`,
      `});`,
      `mote.sensor({ name: "flaky", every: 0.1, read: function () { if (ticks < 4) throw new Error("not ready"); return ticks; } });`,
      `mote.subscribe("cmd", function (msg) { JSON.parse(msg); mote.publish("ok", msg); });`,
      `mote.actuator({ name: "valve", set: function (msg) { if (msg == "jam") throw new Error("jammed"); } });`,
    ].join("\n"),
  });
  await rig.until(() => rig.texts(`${base}/error`).some((t) => t.includes("every: TypeError")), "timer error");
  const timerErr = rig.texts(`${base}/error`).find((t) => t.includes("every: TypeError"))!;
  assert.match(timerErr, /^mote-user\.js:3: every: TypeError: /, timerErr);
  await rig.until(() => rig.texts(`${base}/error`).some((t) => /^mote-user\.js:5: flaky: Error: not ready$/.test(t)), "sensor error");
  await rig.until(() => rig.on(`${base}/flaky`).length >= 1, "the sensor recovers");
  await rig.watcher.publishAsync(`${base}/cmd`, "{not json", { qos: 1 });
  await rig.until(() => rig.texts(`${base}/error`).some((t) => /^mote-user\.js(:6)?: cmd: SyntaxError/.test(t)), "handler error");
  await rig.watcher.publishAsync(`${base}/cmd`, "[1]", { qos: 1 });
  await rig.until(() => rig.last(`${base}/ok`)?.text == "[1]", "handler still subscribed");
  await rig.watcher.publishAsync(`${base}/valve/set`, "jam", { qos: 1 });
  await rig.until(() => rig.texts(`${base}/error`).some((t) => /^mote-user\.js:7: valve: Error: jammed$/.test(t)), "actuator error");
  await rig.watcher.publishAsync(`${base}/valve/set`, "open", { qos: 1 });
  await rig.until(() => rig.last(`${base}/valve`)?.text == "open", "actuator still obeys");
  assert.ok(rig.on(`${base}/error`).slice(1).every((m) => !m.retain));
  assert.equal(await retainedText(broker.url, `${base}/error`), undefined, "no retained error (the empty birth message cleared it)");
  assert.equal(rig.last(`${base}/status`)?.text, "online");
  assert.deepEqual(board.errors, []);
});

test("user sensors in deep-sleep cycles: read once per wake, deadband kept", async () => {
  const { board, base } = rig.device({ sleep: { every: 60, awake: 3 } }, {
    user: `var S = require("Storage");\nmote.sensor({ name: "boots", deadband: 0.5, read: function () { return 7; } });\n`,
    sim: { sleepScale: 0.02 },
  });
  await rig.until(() => board.sleeps == 2, "two cycles");
  await rig.until(() => rig.texts(`${base}/status`).filter((t) => t == "sleeping").length == 2, "statuses");
  assert.deepEqual(rig.texts(`${base}/boots`), ["7"], "the same value is not published again after a wake");
  assert.deepEqual(board.errors, []);
});

test("examples: a custom I2C sensor and a thermostat rule driving a relay", async () => {
  const i2c = rig.device({ sensors: [] }, {
    user: readFileSync(join(ROOT, "boards/examples/user-i2c-sensor.js"), "utf8").replace(/every: \d+/g, "every: 0.2"),
    before: (b) => b.attachBme280({ sda: "D21", scl: "D22", address: 0x77 }, { temp: 18.25, rh: 60, pressure: 1001 }),
  });
  await rig.until(() => rig.on(`${i2c.base}/chip-id`).length >= 1 && rig.on(`${i2c.base}/raw-temperature`).length >= 1, "custom sensor");
  assert.equal(rig.last(`${i2c.base}/chip-id`)?.text, "96");
  assert.ok(Number(rig.last(`${i2c.base}/raw-temperature`)?.text) > 0);
  assert.deepEqual(i2c.board.errors, []);

  const th = rig.device({
    sensors: [{ name: "room", type: "bme280", sda: "D21", scl: "D22", every: 0.2 }],
    actuators: [{ name: "heater", type: "digital", pin: "D26" }],
  }, { user: readFileSync(join(ROOT, "boards/examples/user-thermostat.js"), "utf8") });
  const chip = th.board.attachBme280({ sda: "D21", scl: "D22" }, { temp: 17, rh: 50, pressure: 1010 });
  await rig.until(() => rig.last(`${th.base}/heater`)?.text == "1", "heater on below the set point");
  assert.equal(th.board.pins.state("D26").out, 1);
  chip.set({ temp: 22, rh: 50, pressure: 1010 });
  await rig.until(() => rig.last(`${th.base}/heater`)?.text == "0", "heater off above it");
  await rig.watcher.publishAsync(`${th.base}/setpoint/set`, "23", { qos: 1 });
  await rig.until(() => rig.last(`${th.base}/setpoint`)?.text == "23", "new set point echoed");
  await rig.until(() => rig.last(`${th.base}/heater`)?.text == "1", "heater on for the new set point");
  assert.deepEqual(th.board.errors, []);
});

