// Inputs that fire, in the simulator against Mosquitto: a button watched with setWatch (debounced under
// simulated contact bounce, events as they happen), a BME280 over I2C read through the BME280 module API.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startMosquitto, type MosquittoInstance } from "../support/mosquitto.js";
import { Rig, sleep } from "./rig.js";

let broker: MosquittoInstance;
let rig: Rig;

before(async () => {
  broker = await startMosquitto();
  rig = new Rig(broker.url, broker.port, "inp");
  await rig.start();
});
after(async () => {
  await rig?.stop();
  await broker?.stop();
});

test("button: one pressed and one released per press under contact bounce, no polling", async () => {
  const { board, base } = rig.device({
    sensors: [{ name: "door", type: "button", pin: "D4", debounce: 30 }, { name: "bell", type: "button", pin: "D5", debounce: 0, active_high: true }],
  });
  await rig.until(() => rig.last(`${base}/status`)?.text == "online", "online");
  assert.equal(board.pins.state("D4").mode, "input_pullup", "pressed is low: pulled up");
  assert.equal(board.pins.state("D5").mode, "input_pulldown");
  for (let i = 0; i < 3; i++) {
    await board.bounce("D4", 0, 6, 3); // 6 edges 3 ms apart: within the 30 ms debounce
    await sleep(100);
    await board.bounce("D4", 1, 6, 3);
    await sleep(100);
  }
  await rig.until(() => rig.on(`${base}/door`).length >= 6, "six events");
  await sleep(200);
  assert.deepEqual(rig.texts(`${base}/door`), ["pressed", "released", "pressed", "released", "pressed", "released"]);
  // Without debounce every edge of the bounce is an event (active high: 1 is pressed).
  await board.bounce("D5", 1, 4, 3);
  await rig.until(() => rig.on(`${base}/bell`).length >= 5, "bounced events");
  assert.deepEqual(rig.texts(`${base}/bell`), ["pressed", "released", "pressed", "released", "pressed"]);
  // A short glitch, shorter than the debounce, is no press at all.
  board.pins.set("D4", 0); await sleep(5); board.pins.set("D4", 1);
  await sleep(150);
  assert.equal(rig.on(`${base}/door`).length, 6);
  assert.deepEqual(board.errors, []);
});

test("bme280: temperature, humidity, pressure over I2C on <base>/<name>/..., deadband, a missing chip counted as errors", async () => {
  const base = rig.nextBase();
  const { board } = rig.device({
    sensors: [
      { name: "air", type: "bme280", sda: "D21", scl: "D22", every: 0.1, deadband: 0.5 },
      { name: "out", type: "bme280", sda: "D21", scl: "D22", address: 119, every: 0.1 },
      { name: "gone", type: "bme280", sda: "D18", scl: "D19", every: 0.1 },
    ],
  });
  const chip = board.attachBme280({ sda: "D21", scl: "D22" }, { temp: 22.4, rh: 41.5, pressure: 1008.3 });
  board.attachBme280({ sda: "D21", scl: "D22", address: 0x77 }, { temp: -3.2, rh: 88, pressure: 990.05 });
  await rig.until(() => rig.on(`${base}/air/pressure`).length >= 1 && rig.on(`${base}/out/pressure`).length >= 1, "readings");
  const near = (topic: string, want: number, tol: number) => {
    const v = Number(rig.last(topic)?.text);
    assert.ok(Math.abs(v - want) <= tol, `${topic} = ${v}, want ${want} ± ${tol}`);
  };
  near(`${base}/air/temperature`, 22.4, 0.01);
  near(`${base}/air/humidity`, 41.5, 0.01);
  near(`${base}/air/pressure`, 1008.3, 0.01);
  near(`${base}/out/temperature`, -3.2, 0.01);
  near(`${base}/out/humidity`, 88, 0.01);
  near(`${base}/out/pressure`, 990.05, 0.01);
  // Within the deadband: nothing new; beyond it: all three again.
  chip.set({ temp: 22.6, rh: 41.7, pressure: 1008.5 });
  await sleep(400);
  assert.equal(rig.on(`${base}/air/temperature`).length, 1);
  chip.set({ temp: 23.5, rh: 41.7, pressure: 1008.5 });
  await rig.until(() => rig.on(`${base}/air/temperature`).length == 2, "moved");
  near(`${base}/air/temperature`, 23.5, 0.01);
  assert.equal(rig.on(`${base}/air/humidity`).length, 2);
  // Nothing at 0x76 on D18/D19: no value, errors counted, the others go on.
  assert.equal(rig.on(`${base}/gone/temperature`).length, 0);
  assert.ok(board.run("mote.c.sensors[2].e") >= 2);
  // The chip stops answering: errors, then it is back.
  chip.failing = true;
  const e0 = board.run("mote.c.sensors[0].e") || 0;
  await sleep(300);
  assert.ok(board.run("mote.c.sensors[0].e") > e0);
  chip.failing = false;
  chip.set({ temp: 19, rh: 50, pressure: 1000 });
  await rig.until(() => Number(rig.last(`${base}/air/temperature`)?.text) == 19, "recovered");
  assert.deepEqual(board.errors, []);
});

test("the simulated BME280 answers Espruino's I2C calls like the chip: id register, calibration, data", async () => {
  const { board } = rig.device({});
  board.attachBme280({ sda: "D21", scl: "D22" }, { temp: 25, rh: 50, pressure: 1013.25 });
  const r = board.json(`I2C1.setup({sda: D21, scl: D22}); I2C1.writeTo(0x76, 0xD0);
    var id = I2C1.readFrom(0x76, 1)[0]; var d = require("BME280").connect(I2C1).getData();
    var err = ""; try { I2C1.readFrom(0x50, 1); } catch (e) { err = e.message; }
    ({id: id, d: d, err: err})`);
  assert.equal(r.id, 0x60);
  assert.ok(Math.abs(r.d.temp - 25) < 0.01 && Math.abs(r.d.humidity - 50) < 0.01 && Math.abs(r.d.pressure - 1013.25) < 0.01, JSON.stringify(r.d));
  assert.match(r.err, /no ACK/);
});

test("button with multi_press: each series' count on <base>/<name>/presses once it is over, pressed/released as before", async () => {
  const { board, base } = rig.device({
    sensors: [{ name: "sw", type: "button", pin: "D4", debounce: 10, multi_press: 200 }],
  });
  await rig.until(() => rig.last(`${base}/status`)?.text == "online", "online");
  const press = async (gap: number) => {
    await board.bounce("D4", 0, 4, 2);
    await sleep(50);
    await board.bounce("D4", 1, 4, 2);
    await sleep(gap);
  };
  // A single press, then (after the window) a triple press with gaps well inside it.
  await press(400);
  assert.deepEqual(rig.texts(`${base}/sw/presses`), ["1"]);
  for (let i = 0; i < 3; i++) await press(60);
  // Nothing while the series may still go on.
  assert.deepEqual(rig.texts(`${base}/sw/presses`), ["1"]);
  await rig.until(() => rig.on(`${base}/sw/presses`).length == 2, "the triple press");
  // A press held longer than the window is still one press: the window starts at the release.
  await board.bounce("D4", 0, 4, 2);
  await sleep(350);
  await board.bounce("D4", 1, 4, 2);
  await rig.until(() => rig.on(`${base}/sw/presses`).length == 3, "the long press");
  await sleep(300);
  assert.deepEqual(rig.texts(`${base}/sw/presses`), ["1", "3", "1"]);
  assert.ok(rig.on(`${base}/sw/presses`).every((m) => !m.retain), "events are not retained");
  assert.equal(rig.texts(`${base}/sw`).length, 10, "pressed and released for each of the 5 presses");
  assert.deepEqual(board.errors, []);
});
