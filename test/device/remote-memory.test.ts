// Remote management within the memory of an ESP8266 (1,600 variables), in the simulator against
// Mosquitto, with 4 sensors, 2 actuators, Home Assistant, the diagnostics and remote management on: an
// update and a config change succeed; during the transfer the board holds no remote module (chunks are
// written by the resident mote-remote), takes chunks small and few at a time, and its variable estimate
// stays within 150 above idle. The estimate cannot see closure scopes (src/host/memory.ts): the figures
// to quote are the real interpreter's (npm run bench, section remote; npm run remote-check).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { SimBoard } from "../../src/host/index.js";
import { startMosquitto, type MosquittoInstance } from "../support/mosquitto.js";
import { Host, KEY, flash, flashFiles, bundles, sleep } from "./remote-rig.js";
import { hashHex } from "../../src/tools/mote/protocol.js";

let broker: MosquittoInstance;
const boards: SimBoard[] = [];
const hosts: Host[] = [];

before(async () => { broker = await startMosquitto(); });
after(async () => {
  for (const b of boards) b.close();
  for (const h of hosts) await h.close();
  await broker?.stop();
});

async function esp8266(name: string) {
  const base = "mem/" + name;
  const cfg = {
    wifi: { ssid: "mote-sim", password: "pw" },
    mqtt: { host: "127.0.0.1", port: broker.port, keep_alive: 10, client_id: "mem-" + name }, base,
    sensors: [{ name: "level", type: "analog", pin: "A0", every: 1 }, { name: "door", type: "digital", pin: "D5", every: 1 },
      { name: "up", type: "uptime", every: 1 }, { name: "free", type: "memory", every: 1 }],
    actuators: [{ name: "relay", type: "digital", pin: "D2" }, { name: "fan", type: "pwm", pin: "D4" }],
    homeassistant: true, diag_every: 300, remote: { key: KEY, confirm: 10 },
  };
  const board = new SimBoard({ board: "esp8266-nodemcu", serial: "mem-" + name });
  boards.push(board);
  const host = await Host.open(broker.url, base, "sha1");
  hosts.push(host);
  flash(board, flashFiles("esp8266-nodemcu", cfg));
  board.boot();
  await host.info();
  await board.waitFor(() => board.logs.some((l) => l.includes("homeassistant: announced")), 10000, "announced");
  return { board, host };
}

test("an update on an ESP8266 with everything on: small chunks, no remote module held, within 150 variables above idle", async () => {
  const { board, host } = await esp8266("ota");
  const { b: B } = bundles();
  // Idle once a command has been taken (the client keeps its handler part from the first message on).
  assert.equal((await host.cmd("config_get")).ok, true);
  await sleep(300);
  const idle = board.memory().usage;
  let peak = 0, transferring = false;
  const held = new Set<string>();
  const sample = setInterval(() => {
    try {
      peak = Math.max(peak, board.memory().usage);
      if (transferring) for (const m of board.json("Modules.getCached()") as string[]) held.add(m);
    } catch { /* restarting on the new bundle */ }
  }, 2);
  let r;
  try {
    r = await host.ota(B, { abort: () => { transferring = host.on("ota/ack").length > 0; return false; } });
  } finally {
    clearInterval(sample);
  }
  assert.equal(r.begin.ok, true);
  assert.ok((r.begin.chunk as number) <= 256 && (r.begin.window as number) <= 2, `chunk ${r.begin.chunk}, window ${r.begin.window}`);
  assert.equal(r.end?.ok, true, JSON.stringify(r.end));
  const info = await host.info((i) => i.hash == hashHex("sha1", B));
  assert.equal(info.boot, "ota");
  assert.deepEqual([...held].filter((m) => m.startsWith("mote-remote")), [], "no remote module loaded while the chunks come");
  assert.ok(peak - idle <= 150, `peak ${peak - idle} variables above idle (${idle})`);
  assert.deepEqual(board.errors, []);
});

test("a config change on an ESP8266 with everything on: accepted, and back online on it", async () => {
  const { board, host } = await esp8266("cfg");
  const get = await host.cmd("config_get");
  assert.equal(get.ok, true);
  const c = get.config as any;
  assert.equal(c.remote.key, "***");
  c.sensors[2].every = 7;
  const k = host.infos().length;
  const set = await host.cmd("config_set", { config: c });
  assert.equal(set.ok, true, JSON.stringify(set));
  const info = await host.info((i) => i.boot == "config", k);
  assert.notEqual(info.cfg, host.infos()[0].cfg);
  assert.ok(board.storage.read("mote.json")?.includes('"every":7'));
  assert.deepEqual(board.errors, []);
});
