// Battery boards (mote-sleep) in the simulator against Mosquitto: deep-sleep cycles with RAM lost and
// Storage kept, a command sent while asleep applied at the next wake, status online -> sleeping ->
// online with no offline, <base>/stay holding the board awake, a broker down at wake.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startMosquitto, type MosquittoInstance } from "../support/mosquitto.js";
import { retainedText } from "../support/util.js";
import { Rig, sleep } from "./rig.js";

let broker: MosquittoInstance;
let rig: Rig;

before(async () => {
  broker = await startMosquitto({ persistence: true });
  rig = new Rig(broker.url, broker.port, "slp");
  await rig.start();
});
after(async () => {
  await rig?.stop();
  await broker?.stop();
});

// every 60 s, slept 50x faster: about 1.2 s asleep per cycle.
const SCALE = 0.02;

test("cycles: readings once per wake with the deadband kept across sleeps, a command sent while asleep applied at the next wake, no offline", async () => {
  const { board, base } = rig.device({
    sleep: { every: 60, awake: 5 },
    sensors: [{ name: "level", type: "analog", pin: "D34", deadband: 0.05 }],
    actuators: [{ name: "relay", type: "digital", pin: "D26" }],
  }, { sim: { sleepScale: SCALE } });
  board.pins.setAnalog("D34", 0.5);
  await rig.until(() => board.sleeps == 1, "first sleep");
  assert.equal(board.wakeReason, "power on");
  assert.deepEqual(rig.texts(`${base}/level`), ["0.5"]);
  assert.deepEqual(rig.texts(`${base}/status`), ["online", "sleeping"]);
  assert.ok(board.asleep);
  // Sent while the board sleeps: the broker keeps it in the board's session.
  await rig.watcher.publishAsync(`${base}/relay/set`, "on", { qos: 1 });
  await rig.until(() => board.sleeps == 2, "second sleep");
  assert.equal(board.wakeReason, "deep sleep");
  assert.equal(rig.last(`${base}/relay`)?.text, "1", "the queued command was applied and echoed");
  // RAM was lost in between: the pin was set again from the command, not remembered.
  assert.ok(board.logs.some((l) => l.includes("sleep: woke for cycle 1")), board.logs.join("\n"));
  // The same level again: within the deadband, nothing published (the state survived in Storage).
  assert.deepEqual(rig.texts(`${base}/level`), ["0.5"]);
  board.pins.setAnalog("D34", 0.8);
  await rig.until(() => board.sleeps == 3, "third sleep");
  assert.deepEqual(rig.texts(`${base}/level`), ["0.5", "0.8"]);
  assert.deepEqual(rig.texts(`${base}/status`), ["online", "sleeping", "online", "sleeping", "online", "sleeping"]);
  assert.equal(await retainedText(broker.url, `${base}/status`), "sleeping");
  // The state file: one record per cycle, appended into erased flash (no erase after the first).
  const file = board.storage.read("mote.sleep")!;
  assert.equal(file.length, 4096);
  const records = file.slice(0, file.indexOf("\xff")).trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(records.map((r) => r.n), [1, 2, 3]);
  assert.deepEqual(records[2].s.level.slice(0, 1), [0.8]);
  assert.deepEqual(board.errors, []);
});


test("stay: a retained 1 on <base>/stay keeps the board awake and reading; clearing it lets it sleep", async () => {
  const base = rig.nextBase();
  await rig.watcher.publishAsync(`${base}/stay`, "1", { qos: 1, retain: true });
  const { board } = rig.device({
    sleep: { every: 60, awake: 1 },
    sensors: [{ name: "up", type: "uptime", every: 0.2 }],
  }, { sim: { sleepScale: SCALE } });
  await rig.until(() => rig.last(`${base}/status`)?.text == "online", "online");
  await sleep(2500); // well beyond awake
  assert.equal(board.sleeps, 0, "still awake");
  assert.ok(rig.on(`${base}/up`).length >= 5, `sensors on their timers while staying: ${rig.texts(`${base}/up`)}`);
  assert.ok(!rig.texts(`${base}/status`).includes("sleeping"));
  await rig.watcher.publishAsync(`${base}/stay`, "", { qos: 1, retain: true });
  await rig.until(() => board.sleeps == 1, "asleep once stay is cleared");
  await rig.until(() => rig.last(`${base}/status`)?.text == "sleeping", "status sleeping");
  assert.ok(!rig.texts(`${base}/status`).includes("offline"));
  assert.deepEqual(board.errors, []);
});

test("stay set while asleep: the next wake stays awake", async () => {
  const { board, base } = rig.device({ sleep: { every: 60, awake: 1 } }, { sim: { sleepScale: SCALE } });
  await rig.until(() => board.sleeps == 1, "first sleep");
  await rig.watcher.publishAsync(`${base}/stay`, "1", { qos: 1, retain: true });
  await rig.until(() => board.wakeReason == "deep sleep" && !board.asleep, "woke");
  await sleep(2000);
  assert.equal(board.sleeps, 1, "stayed awake");
  assert.equal(rig.last(`${base}/status`)?.text, "online");
  await rig.watcher.publishAsync(`${base}/stay`, "0", { qos: 1, retain: true });
  await rig.until(() => board.sleeps == 2, "asleep again");
  await rig.watcher.publishAsync(`${base}/stay`, "", { qos: 1, retain: true });
});

test("broker down at wake: asleep again within awake seconds, readings kept and published at the next cycle", async () => {
  // Real-length sleeps: the test wakes the board itself (board.wake(), a reset) when the broker is ready.
  const { board, base } = rig.device({
    sleep: { every: 60, awake: 1.5 },
    sensors: [{ name: "level", type: "analog", pin: "D34" }],
  });
  board.pins.setAnalog("D34", 0.25);
  await rig.until(() => board.sleeps == 1, "first sleep");
  await rig.until(() => rig.last(`${base}/status`)?.text == "sleeping", "status sleeping");
  assert.deepEqual(rig.texts(`${base}/level`), ["0.25"]);
  await broker.halt();
  board.pins.setAnalog("D34", 0.75);
  const woke = Date.now();
  board.wake();
  await rig.until(() => board.sleeps == 2, "asleep again", 5000);
  const awakeMs = Date.now() - woke;
  assert.ok(awakeMs <= 1500 + 400, `awake ${awakeMs} ms with the broker down (awake: 1.5 s)`);
  assert.ok(board.logs.some((l) => l.includes("after 1.5 s awake") && l.includes("1 readings kept")), board.logs.slice(-8).join("\n"));
  await broker.start();
  await rig.rewatch();
  board.pins.setAnalog("D34", 0.5);
  board.wake();
  await rig.until(() => board.sleeps == 3, "third sleep", 8000);
  await rig.until(() => rig.texts(`${base}/level`).length >= 3, "kept and new readings");
  assert.deepEqual(rig.texts(`${base}/level`), ["0.25", "0.75", "0.5"], "the reading of the failed cycle, then the new one");
  assert.ok(!rig.texts(`${base}/status`).includes("offline"), rig.texts(`${base}/status`).join(","));
  assert.deepEqual(board.errors, []);
});
