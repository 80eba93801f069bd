// The device runtime (firmware/mote.js) in the host simulator against Mosquitto: birth and will,
// sensors with period/deadband/heartbeat, actuators, config errors, WiFi loss, broker down at boot.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import { SimBoard } from "../../src/host/index.js";
import { startMosquitto, type MosquittoInstance } from "../support/mosquitto.js";
import { mqttjsClient, retainedText } from "../support/util.js";
import { ROOT, loadBoard } from "../../src/tools/config-check.js";
import { compactBoard } from "../../src/device/config.js";
import { CONNECT, fakeBroker, parseConnect } from "../spec/broker.js";

const FIRMWARE = process.env.MOTE_FIRMWARE || join(ROOT, "firmware/mote.js");
let broker: MosquittoInstance;
let watcher: MqttClient;
type Msg = { topic: string; text: string; retain: boolean; at: number };
const seen: Msg[] = [];
const boards: SimBoard[] = [];
let seq = 0;

before(async () => {
  assert.ok(existsSync(FIRMWARE), `${FIRMWARE} is missing: run npm run build`);
  broker = await startMosquitto();
  watcher = await mqttjsClient(broker.url);
  watcher.on("message", (topic, m, p) => seen.push({ topic, text: m.toString("latin1"), retain: p.retain, at: Date.now() }));
  await watcher.subscribeAsync("t/#", { qos: 1 });
});
after(async () => {
  for (const b of boards) b.close();
  await watcher?.endAsync();
  await broker?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(pred: () => boolean, what: string, ms = 8000) {
  const t = Date.now();
  while (!pred()) {
    if (Date.now() - t > ms) throw new Error(`timed out waiting for ${what}; seen: ${JSON.stringify(seen.slice(-15))}`);
    await sleep(10);
  }
}
const on = (topic: string) => seen.filter((m) => m.topic == topic);
/** What a new subscriber gets as the retained message of `topic` (undefined: none), as bytes like `seen`. */
const retained = (topic: string) => retainedText(broker.url, topic, "latin1");
const last = (topic: string) => on(topic).at(-1);

/** A booted simulated board running the firmware with `cfg` (base t/<n>, the test broker). */
function device(cfg: any, opts: { board?: string; wifi?: boolean; noBoardFile?: boolean; port?: number } = {}) {
  const id = opts.board ?? "esp32-devkitc";
  const base = `t/${++seq}`;
  const c = { wifi: { ssid: "mote-sim", password: "pw" }, mqtt: { host: "127.0.0.1", port: opts.port ?? broker.port, keep_alive: 5 }, base, ...cfg };
  const board = new SimBoard({ board: id, wifi: opts.wifi, serial: `sim-${seq}` });
  boards.push(board);
  board.storage.writeText("mote.json", JSON.stringify(c));
  if (!opts.noBoardFile) board.storage.writeText("mote.board", JSON.stringify(compactBoard(loadBoard(id))));
  board.flash(readFileSync(FIRMWARE, "utf8"));
  board.boot();
  return { board, base, c };
}

test("boot: WiFi, MQTT, retained birth, actuator states, empty error topic", async () => {
  const { board, base } = device({ actuators: [{ name: "relay", type: "digital", pin: "D26", invert: true }] });
  await until(() => last(`${base}/status`)?.text == "online", "birth");
  await until(() => last(`${base}/relay`)?.text == "0", "relay state");
  assert.equal(last(`${base}/error`)?.text, "");
  assert.ok(board.logs.includes("mote: wifi: joined mote-sim"), board.logs.join("\n"));
  assert.equal(board.pins.state("D26").out, 1, "inverted: off is high");
  // retained: a late subscriber gets them
  const late = await mqttjsClient(broker.url);
  const got: string[] = [];
  late.on("message", (t, m, p) => got.push(`${t}=${m} ${p.retain}`));
  await late.subscribeAsync(`${base}/#`);
  await until(() => got.length >= 2, "retained");
  assert.deepEqual(got.sort(), [`${base}/relay=0 true`, `${base}/status=online true`]);
  await late.endAsync();
  assert.deepEqual(board.errors, []);
});

test("sensors: period, deadband, heartbeat, scale/offset, failing DHT22 does not stop the others", async () => {
  const { board, base } = device({
    sensors: [
      { name: "level", type: "analog", pin: "D34", every: 0.1, deadband: 0.1, heartbeat: 1000 },
      { name: "beat", type: "analog", pin: "D35", every: 0.1, heartbeat: 5, scale: 100, offset: 1 },
      { name: "air", type: "dht22", pin: "D4", every: 0.2 },
      { name: "up", type: "uptime", every: 0.2 },
    ],
  });
  board.pins.setAnalog("D34", 0.5);
  board.pins.setAnalog("D35", 0.25);
  board.sensors.timing.dht22Fail = 50;
  board.sensors.fail("D4");
  await until(() => last(`${base}/level`)?.text == "0.5", "first value");
  board.pins.setAnalog("D34", 0.55); // within the deadband: nothing
  await sleep(400);
  assert.deepEqual(on(`${base}/level`).map((m) => m.text), ["0.5"]);
  board.pins.setAnalog("D34", 0.7);
  await until(() => last(`${base}/level`)?.text == "0.7", "moved past deadband");
  // constant value: published once, then every 5 periods as a heartbeat (25 = 0.25 * 100 + 1 -> 26)
  await until(() => on(`${base}/beat`).length >= 3, "heartbeats");
  const beats = on(`${base}/beat`);
  assert.ok(beats.every((m) => m.text == "26"));
  const gap = beats[2].at - beats[1].at;
  assert.ok(gap >= 350 && gap < 1500, `heartbeat gap ${gap} ms`);
  // the failing DHT22 published nothing, the uptime kept going; then it recovers
  assert.equal(on(`${base}/air/temperature`).length, 0);
  await until(() => on(`${base}/up`).length >= 3, "uptime");
  board.sensors.fail("D4", false);
  board.sensors.setDht22("D4", { temp: 21.5, rh: 40 });
  await until(() => last(`${base}/air/temperature`)?.text == "21.5" && last(`${base}/air/humidity`)?.text == "40", "dht22");
  const errs = board.run(`mote.c.sensors[2].e`);
  assert.ok(errs >= 1, `dht22 errors counted: ${errs}`);
  assert.deepEqual(board.errors, []);
});

test("sensors share one timer, each at its own period; periods whose divisor is under 0.1 s get a timer each", async () => {
  // uptime sensors publish every reading (the value moves): the mean step between the values one sensor
  // published is its period as the board's clock saw it.
  const shared = device({ sensors: [{ name: "fast", type: "uptime", every: 0.2 }, { name: "slow", type: "uptime", every: 0.5 }] });
  const own = device({ sensors: [{ name: "fast", type: "uptime", every: 0.15 }, { name: "slow", type: "uptime", every: 0.25 }] });
  const step = (topic: string) => {
    const v = on(topic).map((m) => Number(m.text));
    return (v[v.length - 1] - v[0]) / (v.length - 1);
  };
  await until(() => on(`${shared.base}/slow`).length >= 5 && on(`${own.base}/slow`).length >= 5, "five readings each", 15000);
  for (const [topic, period] of [[`${shared.base}/fast`, 0.2], [`${shared.base}/slow`, 0.5], [`${own.base}/fast`, 0.15], [`${own.base}/slow`, 0.25]] as const) {
    const s = step(topic);
    assert.ok(Math.abs(s - period) < period * 0.3, `${topic}: mean step ${s.toFixed(3)} s, period ${period} s`);
  }
  // One timer for both sensors of the first board (the tick every 0.1 s), one per sensor on the second.
  assert.equal(shared.board.run("mote.c.sensors.map(function (s) { return s.k === undefined ? 0 : 1; }).join()"), "1,1");
  assert.equal(own.board.run("mote.c.sensors.map(function (s) { return s.k === undefined ? 0 : 1; }).join()"), "0,0");
});

test("a sensor reading NaN (ESP8266 has no chip temperature) publishes nothing and counts an error", async () => {
  const { board, base } = device({
    sensors: [
      { name: "chip", type: "internal-temperature", every: 0.1 },
      { name: "up", type: "uptime", every: 0.1 },
    ],
  }, { board: "esp8266-nodemcu" });
  assert.ok(Number.isNaN(board.run("E.getTemperature()")), "the simulated ESP8266 has no temperature sensor");
  await until(() => on(`${base}/up`).length >= 3, "uptime");
  assert.equal(on(`${base}/chip`).length, 0, "no NaN published");
  assert.ok(board.run("mote.c.sensors[0].e") >= 2, "failed reads counted");
  assert.deepEqual(board.errors, []);
});

test("actuators: commands switch pins and echo state; bad payloads rejected on <base>/rejected, <base>/error untouched", async () => {
  const { board, base } = device({
    actuators: [{ name: "lamp", type: "digital", pin: "D26" }, { name: "fan", type: "pwm", pin: "D25", initial: 0.25, freq: 500 }],
  });
  await until(() => last(`${base}/fan`)?.text == "0.25", "initial pwm");
  assert.equal(board.pins.state("D25").duty, 0.25);
  const cmds: [string, string, string, string | number][] = [
    ["lamp", "ON", "1", 1], ["lamp", "off", "0", 0], ["lamp", "true", "1", 1], ["lamp", "0", "0", 0],
    ["fan", "75%", "0.75", 0.75], ["fan", "0.5", "0.5", 0.5], ["fan", "on", "1", 1], ["fan", "false", "0", 0],
  ];
  for (const [name, cmd, echo, level] of cmds) {
    const n = on(`${base}/${name}`).length;
    await watcher.publishAsync(`${base}/${name}/set`, cmd);
    await until(() => on(`${base}/${name}`).length > n, `${name} <- ${cmd}`);
    assert.equal(last(`${base}/${name}`)!.text, echo);
    if (name == "lamp") assert.equal(board.pins.state("D26").out, level);
    else assert.equal(board.pins.state("D25").duty, level);
  }
  for (const [name, cmd] of [["lamp", "50%"], ["lamp", "banana"], ["fan", "150%"], ["fan", "1.5"], ["fan", ""]]) {
    const n = on(`${base}/rejected`).length;
    await watcher.publishAsync(`${base}/${name}/set`, cmd);
    await until(() => on(`${base}/rejected`).length > n, `reject ${cmd}`);
    assert.equal(last(`${base}/rejected`)!.retain, false);
    assert.equal(last(`${base}/rejected`)!.text, `${name}: rejected ${JSON.stringify(cmd)} (expected 1/0, true/false, on/off${name == "fan" ? ", 0..1 or 0..100%" : ""})`);
  }
  assert.equal(board.pins.state("D26").out, 0, "state unchanged after rejects");
  // the config-error topic still says: no config error
  assert.deepEqual(on(`${base}/error`).map((m) => m.text), [""]);
  assert.equal(board.pins.state("D25").duty, 0);
});

test("retained commands apply only with restore: true", async () => {
  seq++;
  const base = `t/${seq + 1}`;
  await watcher.publishAsync(`${base}/keep/set`, "1", { retain: true });
  await watcher.publishAsync(`${base}/forget/set`, "1", { retain: true });
  const { board } = device({
    actuators: [{ name: "keep", type: "digital", pin: "D26", restore: true }, { name: "forget", type: "digital", pin: "D27" }],
  });
  await until(() => last(`${base}/keep`)?.text == "1", "restored");
  await sleep(300);
  assert.equal(last(`${base}/forget`)?.text, "0");
  assert.equal(board.pins.state("D26").out, 1);
  assert.equal(board.pins.state("D27").out, 0);
  await watcher.publishAsync(`${base}/keep/set`, "", { retain: true });
  await watcher.publishAsync(`${base}/forget/set`, "", { retain: true });
});

test("config errors: logged, status error, details on <base>/error, good parts still run", async () => {
  const { board, base } = device({
    sensors: [{ name: "bad", type: "analog", pin: "D4", every: 0.1 }, { name: "good", type: "analog", pin: "D32", every: 0.1 }],
    actuators: [{ name: "x", type: "pwm", pin: "D34" }],
    limits: { inflight: 50 },
  });
  board.pins.setAnalog("D32", 0.125);
  await until(() => last(`${base}/status`)?.text == "error", "status error");
  await until(() => !!last(`${base}/error`)?.text, "error details");
  assert.deepEqual(last(`${base}/error`)!.text.split("\n"), [
    "sensors[0].pin: D4 has no ADC on esp32-devkitc",
    "actuators[0].pin: D34 has no PWM on esp32-devkitc",
    "limits.inflight: must be 1..19",
  ]);
  assert.equal(await retained(`${base}/error`), last(`${base}/error`)!.text);
  assert.ok(board.logs.includes("mote: config: sensors[0].pin: D4 has no ADC on esp32-devkitc"));
  await until(() => last(`${base}/good`)?.text == "0.125", "good sensor");
  await sleep(200);
  assert.equal(on(`${base}/bad`).length, 0);
  assert.equal(on(`${base}/x`).length, 0);
});

test("a config that is not JSON: logged, nothing connects", async () => {
  const board = new SimBoard({ board: "wemos-d1-mini" });
  boards.push(board);
  board.storage.writeText("mote.json", "{ not json");
  board.flash(readFileSync(FIRMWARE, "utf8"));
  board.boot();
  await board.flush();
  assert.ok(board.logs.includes("mote: config: mote.json: missing or not valid JSON"), board.logs.join("\n"));
  assert.ok(board.logs.includes("mote: no usable broker in mote.json: not connecting"));
  assert.deepEqual(board.errors, []);
});

test("will on abrupt loss, WiFi drop and rejoin, online again", async () => {
  const { board, base } = device({ mqtt: { host: "127.0.0.1", port: broker.port, keep_alive: 2 } });
  await until(() => last(`${base}/status`)?.text == "online", "birth");
  board.wifi.drop();
  await until(() => last(`${base}/status`)?.text == "offline", "will", 10000);
  assert.equal(await retained(`${base}/status`), "offline");
  await sleep(500);
  board.wifi.restore();
  await until(() => last(`${base}/status`)?.text == "online", "online after rejoin", 15000);
  assert.ok(board.logs.filter((l) => l == "mote: wifi: joined mote-sim").length >= 2, board.logs.join("\n"));
});

test("deliberate stop: the device says offline itself", async () => {
  const { board, base } = device({});
  await until(() => last(`${base}/status`)?.text == "online", "birth");
  board.run("mote.stop()");
  await until(() => last(`${base}/status`)?.text == "offline", "offline");
  assert.equal(await retained(`${base}/status`), "offline");
  await sleep(300);
  assert.equal(on(`${base}/status`).filter((m) => m.text == "offline").length, 1, "one offline, no will after it");
});

test("no Wifi module: straight to MQTT; no mote.board: pins not checked", async () => {
  const { board, base } = device({ sensors: [{ name: "m", type: "memory", every: 0.2 }] }, { wifi: false, noBoardFile: true });
  await until(() => last(`${base}/status`)?.text == "online", "birth");
  await until(() => on(`${base}/m`).length > 0, "memory sensor");
  assert.ok(!board.logs.some((l) => l.includes("wifi")));
  assert.ok(board.logs.includes("mote: no mote.board in Storage: pins not checked"));
});

test("no wifi in mote.json: fine on a board without WiFi (board file or none), an error on a WiFi board", async () => {
  // boots a board whose mote.json has no wifi section; mote.board as flash.sh writes it, or none
  const boot = (wifi: boolean, boardFile: any) => {
    const base = `t/${++seq}`;
    const board = new SimBoard({ board: "esp32-devkitc", wifi, serial: `sim-${seq}` });
    boards.push(board);
    board.storage.writeText("mote.json", JSON.stringify({ mqtt: { host: "127.0.0.1", port: broker.port, keep_alive: 5 }, base }));
    if (boardFile) board.storage.writeText("mote.board", JSON.stringify(boardFile));
    board.flash(readFileSync(FIRMWARE, "utf8"));
    board.boot();
    return { board, base };
  };
  const esp32 = compactBoard(loadBoard("esp32-devkitc"));
  const wired = boot(false, { ...esp32, wifi: false });   // the board file says: no WiFi
  const linux = boot(false, undefined);                   // no board file, no Wifi module (Espruino for Linux)
  const radio = boot(true, esp32);                        // a WiFi board still needs it
  await until(() => last(`${wired.base}/status`)?.text == "online", "online on a wired board");
  await until(() => last(`${linux.base}/status`)?.text == "online", "online without a Wifi module");
  await until(() => radio.board.logs.includes("mote: config: wifi: required"), "wifi required on a WiFi board");
  // <base>/error is published right after the birth: on a loaded machine it can reach the watcher later.
  await until(() => !!last(`${wired.base}/error`) && !!last(`${linux.base}/error`), "the error topics");
  assert.equal(last(`${wired.base}/error`)?.text, "");
  assert.equal(last(`${linux.base}/error`)?.text, "");
});

test("mqtt.servers: a refused first server, then the next one; the port defaults to mqtt.port", async () => {
  const dead = await startMosquitto();
  await dead.halt();
  const { board, base } = device({ mqtt: { servers: [{ host: "127.0.0.1", port: dead.port }, { host: "127.0.0.1" }], port: broker.port, keep_alive: 5 } });
  try {
    await until(() => last(`${base}/status`)?.text == "online", "online through the second server", 10000);
    assert.ok(board.logs.includes(`mote: connected to 127.0.0.1:${broker.port}`), board.logs.join("\n"));
    assert.equal(last(`${base}/error`)?.text, "");
  } finally {
    board.close();
    await dead.stop();
  }
});

test("broker down at boot, coming up later", async () => {
  const b2 = await startMosquitto();
  try {
    await b2.halt();
    const { board, base } = device({}, { port: b2.port });
    await sleep(1500);
    assert.ok(board.logs.some((l) => l.startsWith("mote: mqtt: ")), board.logs.join("\n"));
    const w = await b2.start().then(() => mqttjsClient(b2.url));
    const got: string[] = [];
    w.on("message", (t, m) => got.push(`${t}=${m}`));
    await w.subscribeAsync(`${base}/status`);
    await until(() => got.includes(`${base}/status=online`), "online after broker start", 20000);
    await w.endAsync();
    board.close();
  } finally {
    await b2.stop();
  }
});

test("mqtt defaults: keep-alive 60, clean session, plain TCP, the serial as client id, the will on <base>/status", async () => {
  // The board does not store these defaults in its config (variables): the client applies them.
  const fb = await fakeBroker();
  try {
    const { board } = device({ mqtt: { host: "127.0.0.1", port: fb.port } });
    const c = await fb.conn(0);
    const p = await c.waitPacket((x) => x.type == CONNECT);
    const k = parseConnect(p);
    assert.equal(k.keepAlive, 60);
    // clean session (0x02), will flag (0x04), will QoS 1 (0x08), will retain (0x20); no user name or password
    assert.equal(k.flags, 0x2e, `connect flags ${k.flags.toString(2)}`);
    assert.deepEqual(k.fields, [`sim-${seq}`, `t/${seq}/status`, "offline"]);
    board.close();
  } finally {
    await fb.close();
  }
});

test("memory: runtime with 4 sensors and 2 actuators, connected (ESP8266 layout)", async () => {
  const { board, base } = device({
    sensors: [
      { name: "a", type: "analog", pin: "A0", every: 0.2 }, { name: "b", type: "digital", pin: "D5", every: 0.2 },
      { name: "c", type: "memory", every: 0.2 }, { name: "d", type: "uptime", every: 0.2 },
    ],
    actuators: [{ name: "e", type: "digital", pin: "D2", invert: true }, { name: "f", type: "pwm", pin: "D14" }],
  }, { board: "wemos-d1-mini" });
  await until(() => last(`${base}/status`)?.text == "online" && on(`${base}/d`).length >= 2, "running");
  const mem = board.memory();
  console.log(`# runtime memory (simulator estimate, wemos-d1-mini): ${mem.usage} of ${mem.total} vars`);
  assert.ok(mem.usage < 600, `usage ${mem.usage}: the target is under 600 variables`);
});
