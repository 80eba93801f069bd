// Shared by the Home Assistant tests: a simulated board booted with the built firmware in its Storage as
// flash.sh writes it, against one Mosquitto.
import { after, before } from "node:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SimBoard, type SimBoardOptions } from "../../src/host/index.js";
import { ROOT } from "../../src/tools/config-check.js";
import { flashLayout } from "../../src/host/flash-layout.js";
import { startMosquitto, type MosquittoInstance } from "../support/mosquitto.js";
import type { FakeHomeAssistant } from "../support/ha.js";

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
  // The user's file as text (writeText: UTF-8 where the simulator has Unicode strings, its bytes where
  // it has byte strings); the firmware files are ASCII.
  for (const [name, text] of Object.entries(files)) {
    if (name == "mote-user.js") board.storage.writeText(name, text);
    else board.storage.write(name, Buffer.from(text, "latin1"));
  }
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

/**
 * One Mosquitto for a test file (started before its tests) and the boards and Home Assistant stand-ins
 * its tests make, all closed after them.
 */
export function haSuite(): { readonly broker: MosquittoInstance; boards: Booted[]; has: FakeHomeAssistant[] } {
  let broker: MosquittoInstance;
  const suite = { get broker() { return broker; }, boards: [] as Booted[], has: [] as FakeHomeAssistant[] };
  before(async () => { broker = await startMosquitto(); });
  after(async () => {
    for (const b of suite.boards) b.board.close();
    for (const h of suite.has) await h.stop();
    await broker?.stop();
  });
  return suite;
}
