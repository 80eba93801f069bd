// The fleet model (src/tools/mote/fleet.ts) and `mote ls` against a real Mosquitto: boards found from
// what they publish (status, info, diag, Home Assistant discovery), their states, trouble first,
// commands, the will, bounded history.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import type { MqttClient } from "mqtt";
import { startMosquitto, type MosquittoInstance } from "../support/mosquitto.js";
import { mqttjsClient, waitFor } from "../support/util.js";
import { Fleet, Ring, troubleFirst, type Row } from "../../src/tools/mote/fleet.js";
import { LightBoard } from "../../src/tools/fleet.js";
import { ROOT } from "../../src/tools/config-check.js";

let broker: MosquittoInstance;
let pub: MqttClient;
const lights: LightBoard[] = [];

before(async () => {
  broker = await startMosquitto();
  pub = await mqttjsClient(broker.url);
});
after(async () => {
  await Promise.all(lights.map((l) => l.end()));
  await pub?.endAsync();
  await broker?.stop();
});

const info = (id: string, extra: object = {}) => JSON.stringify({ fw: "0.2.0", hash: "ab".repeat(32), alg: "sha256", board: "esp32-devkitc", id, cfg: "cd".repeat(32), free: 1000, boot: "power", n: 0, ...extra });
const retain = (t: string, m: string) => pub.publishAsync(t, m, { qos: 1, retain: true });

test("Ring keeps the last cap points, oldest first", () => {
  const r = new Ring(300);
  for (let i = 0; i < 1000; i++) r.push(i, i * 2);
  const [t, v] = r.arrays();
  assert.equal(r.len, 300);
  assert.equal(t.length, 300);
  assert.equal(t[0], 700);
  assert.equal(t[299], 999);
  assert.equal(v[299], 1998);
  assert.ok(r.t.length <= 300, "storage never beyond the cap");
});

test("discovery: retained state before the monitor, live boards, states, trouble first, commands, the will", async () => {
  // Published before the monitor exists: found from retained messages alone.
  await retain("d/old/status", "offline");
  await retain("d/old/info", info("old"));
  await retain("d/bad/status", "error");
  await retain("d/bad/error", "sensors[0].pin: D99 is not a pin of esp32-devkitc\nactuators[0].type: unknown");
  await retain("d/rb/status", "online");
  await retain("d/rb/info", info("rb", { boot: "rollback", why: "no connection in 60 s" }));
  await retain("d/zz/status", "sleeping");
  // A custom status topic, known only from the Home Assistant discovery's availability.
  await retain("homeassistant/device/custom/config", JSON.stringify({
    dev: { ids: ["custom"], name: "Custom one", mdl: "ESP8266", mf: "mote" }, avty: [{ t: "alive/custom" }],
    cmps: {
      t: { p: "sensor", stat_t: "d/custom/t", unit_of_meas: "°C" },
      lamp: { p: "switch", cmd_t: "d/custom/lamp/set", stat_t: "d/custom/lamp" },
      restart: { p: "button", cmd_t: "d/custom/restart/set" },
    },
  }));
  await retain("alive/custom", "online");
  // Not boards: another vendor's discovery, and Home Assistant's own birth.
  await retain("homeassistant/device/other/config", JSON.stringify({ dev: { ids: ["x"], mf: "Tasmota" }, cmps: { a: { p: "switch", cmd_t: "tas/x/set" } } }));
  await retain("homeassistant/status", "online");

  const fleet = new Fleet({ broker: { url: broker.url } });
  await fleet.start();
  try {
    const light = new LightBoard("d/light", "light-1", { url: broker.url });
    lights.push(light);
    const row = (b: string) => fleet.rows().find((r) => r.base == b);
    await waitFor(() => !!row("d/light")?.varsTotal && fleet.boards.get("d/light")!.actuators.size == 2 && row("d/custom")?.state == "online", 10000,
      () => "boards: " + JSON.stringify(fleet.rows()));

    assert.deepEqual(fleet.rows().map((r) => r.base).sort(), ["d/bad", "d/custom", "d/light", "d/old", "d/rb", "d/zz"]);
    assert.equal(row("d/old")!.state, "offline");
    assert.equal(row("d/old")!.fw, "0.2.0");
    assert.equal(row("d/old")!.lastSeen, undefined, "retained only: never seen live");
    assert.equal(row("d/bad")!.state, "error");
    assert.equal(row("d/bad")!.lastError, "sensors[0].pin: D99 is not a pin of esp32-devkitc");
    assert.equal(row("d/rb")!.state, "rolled back");
    assert.equal(row("d/rb")!.why, "no connection in 60 s");
    assert.equal(row("d/zz")!.state, "sleeping");
    assert.equal(row("d/custom")!.name, "Custom one");
    assert.equal(fleet.boards.get("d/custom")!.sensors.get("t")!.unit, "°C");
    assert.equal(fleet.boards.get("d/custom")!.actuators.get("lamp")!.type, "digital");

    const l = row("d/light")!;
    assert.equal(l.state, "online");
    assert.equal(l.id, "light-1");
    assert.equal(l.board, "light-sim");
    assert.equal(l.varsTotal, 1600);
    assert.ok(typeof l.rssi == "number" && l.rssi < 0);
    assert.ok(l.lastSeen && Date.now() - l.lastSeen < 5000);
    const b = fleet.boards.get("d/light")!;
    assert.equal(b.actuators.get("relay")!.type, "digital");
    assert.equal(b.actuators.get("fan")!.type, "pwm");
    assert.ok(b.sensors.has("level"));

    // Trouble first: error and rolled back, then offline, then the rest.
    const order = fleet.rows().sort(troubleFirst).map((r: Row) => r.base);
    assert.deepEqual(order.slice(0, 3), ["d/bad", "d/rb", "d/old"]);

    // Sensor values make history; a command reaches the board and the echo comes back.
    for (let i = 0; i < 3; i++) light.tick();
    await waitFor(() => b.sensors.get("level")!.history.len >= 3, 5000, "three level points");
    await fleet.command("d/light", "fan", "75%");
    await waitFor(() => b.actuators.get("fan")!.text == "0.75", 5000, "the fan's echo");
    assert.equal(light.state.fan, 0.75);
    await assert.rejects(fleet.command("d/light", "nothing", "1"), /no actuator/);
    await pub.publishAsync("d/light/relay/set", "maybe");
    await waitFor(() => !!b.rejected, 5000, "the rejected command");
    assert.match(row("d/light")!.lastError!, /rejected/);

    // Lost without DISCONNECT: the will.
    light.kill();
    await waitFor(() => row("d/light")!.state == "offline", 5000, "offline through the will");
  } finally {
    await fleet.stop();
  }
});

test("mote ls --json prints the fleet as JSON lines, trouble first; the table has a header", async () => {
  const bin = path.join(ROOT, "bin/mote.js");
  const run = (args: string[]) => new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [bin, "ls", "--broker", broker.url, "--wait", "1", ...args], (e, out, err) => e ? reject(new Error(err || e.message)) : resolve(out)));
  const lines = (await run(["--json"])).trim().split("\n").map((l) => JSON.parse(l));
  const bases = lines.map((r) => r.base);
  for (const b of ["d/bad", "d/rb", "d/old", "d/custom", "d/zz", "d/light"]) assert.ok(bases.includes(b), b + " in " + bases.join(","));
  assert.equal(lines[0].state, "error");
  assert.equal(lines.find((r) => r.base == "d/old").fw, "0.2.0");
  const table = await run([]);
  assert.match(table.split("\n")[0], /^BASE\s+STATE\s+LAST SEEN\s+FIRMWARE/);
  assert.match(table, /d\/rb\s+rolled back \(no connection in 60 s\)/);
});
