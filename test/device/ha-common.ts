// Shared by the Home Assistant tests: a simulated board booted with the built firmware in its Storage as
// flash.sh writes it, against one Mosquitto.
import { after, before } from "node:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SimBoard, type SimBoardOptions } from "../../src/host/index.js";
import { ROOT } from "../../src/tools/config-check.js";
import { flashLayout, writeLayout } from "../../src/host/flash-layout.js";
import { startMosquitto, type MosquittoInstance } from "../support/mosquitto.js";
import type { FakeHomeAssistant } from "../support/ha.js";
import type { MqttClient } from "mqtt";
import { mqttjsClient } from "../support/util.js";

export const FW = join(ROOT, "firmware");
/** package.json's version: what the build writes into the bundles as the firmware version (version.ts). */
export const PKG_VERSION: string = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;

export interface Booted { board: SimBoard; base: string; node: string; cfg: any }

/**
 * Writes Storage as flash.sh does (src/host/flash-layout.ts: the boot guard, the runtime in its slot,
 * the client's parts, mote-info and the feature modules the config uses) and boots. node is the client
 * id. `user`: the user's code (mote-user.js, with mote-script, as flash.sh --user does); `diag: false`:
 * a board flashed without mote-diag (diagnostics then stay off unless diag_every is set); `sim`:
 * simulator options.
 */
export function bootBoard(port: number, node: string, cfg: any,
  opts: { board?: string; diag?: boolean; user?: string; sim?: SimBoardOptions } = {}): Booted {
  const id = opts.board ?? "esp32-devkitc";
  const base = cfg.base ?? `ha/${node}`;
  const c = { wifi: { ssid: "mote-sim", password: "pw" }, mqtt: { host: "127.0.0.1", port, keep_alive: 5, client_id: node }, base, ...cfg };
  const board = new SimBoard({ board: id, serial: node, ...opts.sim });
  const files = flashLayout(id, c, { user: opts.user });
  if (opts.diag === false) delete files["mote-diag"];
  writeLayout(board, files);
  board.boot();
  return { board, base, node, cfg: c };
}

/** The same board restarted on an edited mote.json (Storage, and so mote.ha, kept). */
export function rebootWith(b: Booted, edit: (c: any) => void): void {
  edit(b.cfg);
  b.board.storage.writeText("mote.json", JSON.stringify(b.cfg));
  b.board.reboot();
}

/** Every sensor and actuator type the runtime has, on pins of an esp32-devkitc. */
export const ALL_TYPES = {
  sensors: [
    { name: "level", type: "analog", pin: "D34", every: 0.2 },
    { name: "door", type: "digital", pin: "D5", every: 0.2 },
    { name: "chip", type: "internal-temperature", every: 0.2 },
    { name: "free", type: "memory", every: 0.2 },
    { name: "up", type: "uptime", every: 0.2 },
    { name: "signal", type: "rssi", every: 0.2 },
    { name: "air", type: "dht22", pin: "D4", every: 0.2 },
    { name: "water", type: "ds18b20", pin: "D18", every: 0.2 },
  ],
  actuators: [
    { name: "relay", type: "digital", pin: "D26" },
    { name: "fan", type: "pwm", pin: "D25", initial: 0.25 },
  ],
};

/** A message the suite's watcher saw. */
export interface Seen { topic: string; text: string; retain: boolean; qos: number; at: number }

/**
 * One Mosquitto for a test file (started before its tests) and the boards and Home Assistant stand-ins
 * its tests make, all closed after them. With `watch`, a watcher subscribed to those filters (at `qos`,
 * default 1) records every message in `seen`.
 */
export function haSuite(o: { watch?: string[]; qos?: 0 | 1 } = {}) {
  let broker: MosquittoInstance, watcher: MqttClient;
  const suite = {
    get broker() { return broker; }, get watcher() { return watcher; },
    boards: [] as Booted[], has: [] as FakeHomeAssistant[], seen: [] as Seen[],
  };
  before(async () => {
    broker = await startMosquitto();
    if (!o.watch) return;
    watcher = await mqttjsClient(broker.url);
    watcher.on("message", (topic, m, p) => suite.seen.push({ topic, text: m.toString("utf8"), retain: p.retain, qos: p.qos, at: Date.now() }));
    await watcher.subscribeAsync(o.watch, { qos: o.qos ?? 1 });
  });
  after(async () => {
    for (const b of suite.boards) b.board.close();
    for (const h of suite.has) await h.stop();
    await watcher?.endAsync();
    await broker?.stop();
  });
  return suite;
}
