// Announcing within the memory of a 1,600-variable board, as far as the simulator can tell: its
// memory figure is an estimate (it cannot see closure scopes, nor Espruino's variables per string),
// but it sees what the board writes to its socket and when, which is what decided the peak. Device
// mode: the 2 KB device config of 4 sensors, 2 actuators and the diagnostics goes out whole while the
// socket never holds more than one piece (Espruino keeps unsent bytes in variables and copies what
// exceeds a 536-byte TCP chunk while sending). Per-entity mode: one config in flight at a time, the
// next only after the broker's PUBACK (a QoS 1 message is held whole until then). The variables
// themselves are measured on the real interpreter: `npm run bench` (section ha) and the README.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { startProxy, type Proxy } from "../support/proxy.js";
import { sleep } from "../support/util.js";
import { readDiscovery } from "../support/ha.js";
import { bootBoard, haSuite } from "./ha-common.js";

const suite = haSuite({ watch: ["homeassistant/#"] }), { boards, seen } = suite;
// The per-entity test's proxy (started there, once the suite's broker is up).
let proxy: Proxy | undefined;
after(async () => { await proxy?.close(); });

const CONFIG = {
  diag_every: 300,
  sensors: [{ name: "level", type: "analog", pin: "A0", every: 5 }, { name: "door", type: "digital", pin: "D4", every: 5 },
    { name: "up", type: "uptime", every: 5 }, { name: "free", type: "memory", every: 5 }],
  actuators: [{ name: "relay", type: "digital", pin: "D2" }, { name: "fan", type: "pwm", pin: "D14" }],
};

test("device mode on an ESP8266: the 2 KB device config arrives whole, and the socket never holds more than one piece of it", async () => {
  const b = bootBoard(suite.broker.port, "memdev", { homeassistant: true, ...CONFIG }, { board: "esp8266-nodemcu" });
  boards.push(b);
  await b.board.waitFor(() => b.board.logs.some((l) => l.includes("connected to")), 8000, "connected");
  b.board.traffic.maxUnsent = 0;
  await b.board.waitFor(() => b.board.logs.some((l) => l.includes("homeassistant: announced")), 8000, "announced");
  const cfg = seen.find((s) => s.topic == "homeassistant/device/memdev/config");
  assert.ok(cfg);
  const r = readDiscovery("homeassistant", cfg.topic, cfg.text);
  assert.deepEqual(r.errors, []);
  assert.equal(r.components.length, 13, "4 sensors, 2 actuators, 5 diagnostics, restart, firmware");
  assert.ok(cfg.text.length > 2000, `${cfg.text.length} bytes`);
  // One piece (a component, or half the head) with the PUBLISH header, or a sensor reading beside it.
  assert.ok(b.board.traffic.maxUnsent <= 400, `at most ${b.board.traffic.maxUnsent} bytes unsent at once, of ${cfg.text.length}`);
  assert.deepEqual(b.board.errors, []);
});

test("per-entity mode: one config in flight at a time, the next only after the broker acknowledged it", async () => {
  // Every packet from the broker to the board (PUBACKs too) held 250 ms: a board that waits for each
  // PUBACK sends its configs at least that far apart.
  proxy = await startProxy({ targetPort: suite.broker.port });
  proxy.delay(250, "down");
  const b = bootBoard(proxy.port, "mement", { homeassistant: { per_entity: true }, ...CONFIG }, { board: "esp8266-nodemcu" });
  boards.push(b);
  // The board's messages in flight, from the first config on (the runtime's own QoS 1 messages at
  // connect, before the round, are not configs).
  const inflight: number[] = [];
  const first = () => seen.some((s) => s.topic.includes("/mement/"));
  const sample = setInterval(() => { if (first()) inflight.push(b.board.run("mote.client.stats().inflight")); }, 5);
  try {
    await b.board.waitFor(() => b.board.logs.some((l) => l.includes("homeassistant: announced")), 20000, "announced");
  } finally {
    clearInterval(sample);
    proxy.delay(0, "down");
  }
  const configs = seen.filter((s) => s.topic.startsWith("homeassistant/") && s.topic.includes("/mement/") && s.text);
  assert.equal(configs.length, 13);
  for (let i = 1; i < configs.length; i++) {
    assert.ok(configs[i].at - configs[i - 1].at >= 200, `config ${i} ${configs[i].at - configs[i - 1].at} ms after the one before`);
  }
  assert.ok(Math.max(...inflight) <= 1, `inflight at most 1 (${Math.max(...inflight)})`);
  assert.ok(inflight.length > 100, `${inflight.length} samples`);
  await sleep(100);
  assert.deepEqual(b.board.errors, []);
});
