// The fleet monitor's config and OTA operations (POST/GET /api/config, POST /api/ota: what the page's
// buttons call) against a board running the real bundles in the simulator with remote management, over a
// real Mosquitto: they go through the same library as `mote config` / `mote ota` (src/tools/mote/remote.ts).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { startMosquitto, type MosquittoInstance } from "../support/mosquitto.js";
import { waitFor } from "../support/util.js";
import { SimBoard, flashLayout, writeLayout } from "../../src/host/index.js";
import { startMonitor, type Monitor } from "../../src/tools/mote/monitor.js";
import { ROOT } from "../../src/tools/config-check.js";
import { hashHex } from "../../src/tools/mote/protocol.js";

const KEY = "monitor-test-key-0123456789";
let broker: MosquittoInstance, monitor: Monitor, board: SimBoard;

before(async () => {
  broker = await startMosquitto({ persistence: true });
  monitor = await startMonitor({ broker: { url: broker.url }, port: 0 });
});
after(async () => {
  board?.close();
  await monitor?.close();
  await broker?.stop();
});

test("the monitor reads and pushes a board's config and updates its firmware through the remote library", { timeout: 120000 }, async () => {
  const cfg = {
    wifi: { ssid: "mote-sim", password: "wifi-secret" }, mqtt: { host: "127.0.0.1", port: broker.port, client_id: "mon-1" }, base: "m/1",
    sensors: [{ name: "level", type: "analog", pin: "D34", every: 1 }], actuators: [{ name: "relay", type: "digital", pin: "D26" }],
    remote: { key: KEY, confirm: 20 },
  };
  board = new SimBoard({ board: "esp32-devkitc", serial: "mon-1" });
  writeLayout(board, flashLayout("esp32-devkitc", cfg));
  board.boot();
  await waitFor(() => !!monitor.fleet.boards.get("m/1")?.info?.remote, 15000, "the board's info in the monitor");

  // Read: secrets masked.
  let r = await fetch(monitor.url + "api/config?base=m/1&key=" + KEY);
  assert.equal(r.status, 200);
  const got = ((await r.json()) as any).result;
  assert.equal(got.wifi.password, "***");
  assert.equal(got.remote.key, "***");
  // A wrong key: refused by the board, nothing changed.
  r = await fetch(monitor.url + "api/config?base=m/1&key=" + "x".repeat(20));
  assert.notEqual(r.status, 200);
  // Push what was read, edited, secrets left as "***": validated on the host, run by the board.
  got.sensors[0].every = 2;
  r = await fetch(monitor.url + "api/config", { method: "POST", body: JSON.stringify({ base: "m/1", config: got, key: KEY }) });
  assert.equal(r.status, 200, await r.clone().text());
  const running = JSON.parse(board.storage.readText("mote.json") as string);
  assert.equal(running.sensors[0].every, 2);
  assert.equal(running.wifi.password, "wifi-secret", "a secret sent as *** keeps its value");
  // An invalid config never leaves the host.
  r = await fetch(monitor.url + "api/config", { method: "POST", body: JSON.stringify({ base: "m/1", config: { ...got, sensors: [{ name: "a", type: "nope" }] }, key: KEY }) });
  assert.equal(r.status, 400);
  assert.match(JSON.stringify(await r.json()), /sensors\[0\]\.type/);

  // OTA: the board ends up running the new bundle.
  const bundle = Buffer.from(fs.readFileSync(path.join(ROOT, "firmware/mote.js"), "latin1") + "\n// monitor ota\n", "latin1");
  r = await fetch(monitor.url + "api/ota?base=m/1&key=" + KEY, { method: "POST", body: bundle });
  assert.equal(r.status, 200, await r.clone().text());
  const info = ((await r.json()) as any).result.info;
  assert.equal(info.hash, hashHex("sha256", bundle));
  assert.equal(info.boot, "ota");
});
