// A simulated board running the built firmware (firmware/mote.js and its feature modules in Storage)
// against a real broker, and a watcher that records everything under t/#: shared by the sleep, user-code
// and input tests.
import assert from "node:assert/strict";
import { readFileSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import { SimBoard, type SimBoardOptions } from "../../src/host/index.js";
import { mqttjsClient } from "../support/util.js";
import { ROOT, loadBoard } from "../../src/tools/config-check.js";
import { compactBoard } from "../../src/device/config.js";

export const FIRMWARE = process.env.MOTE_FIRMWARE || join(ROOT, "firmware/mote.js");
export type Msg = { topic: string; text: string; retain: boolean; at: number };
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Rig {
  readonly seen: Msg[] = [];
  readonly boards: SimBoard[] = [];
  watcher!: MqttClient;
  private seq = 0;

  constructor(public url: string, public port: number, private prefix: string) {}

  async start(): Promise<void> {
    assert.ok(existsSync(FIRMWARE), `${FIRMWARE} is missing: run npm run build`);
    this.watcher = await mqttjsClient(this.url);
    this.watcher.on("message", (topic, m, p) => this.seen.push({ topic, text: m.toString("latin1"), retain: p.retain, at: Date.now() }));
    await this.watcher.subscribeAsync(`${this.prefix}/#`, { qos: 1 });
  }

  /** A new watcher (after the broker restarted: the old one does not reconnect). */
  async rewatch(): Promise<void> {
    await this.watcher.endAsync(true).catch(() => {});
    await this.start();
  }

  async stop(): Promise<void> {
    for (const b of this.boards) b.close();
    await this.watcher?.endAsync();
  }

  on(topic: string): Msg[] { return this.seen.filter((m) => m.topic == topic); }
  last(topic: string): Msg | undefined { return this.on(topic).at(-1); }
  texts(topic: string): string[] { return this.on(topic).map((m) => m.text); }

  async until(pred: () => boolean, what: string, ms = 10000): Promise<void> {
    const t = Date.now();
    while (!pred()) {
      if (Date.now() - t > ms) throw new Error(`timed out waiting for ${what}; seen: ${JSON.stringify(this.seen.slice(-12))}`);
      await sleep(10);
    }
  }

  /** The next base topic this rig would give a device. */
  nextBase(): string { return `${this.prefix}/${this.seq + 1}`; }

  /**
   * Boots a board with `cfg` (base <prefix>/<n>, this broker), the feature modules in Storage, and
   * `user` as mote-user.js when given.
   */
  device(cfg: any, opts: { board?: string; user?: string; sim?: SimBoardOptions; before?: (b: SimBoard) => void } = {}) {
    const id = opts.board ?? "esp32-devkitc";
    const n = ++this.seq;
    const base = `${this.prefix}/${n}`;
    const c = { wifi: { ssid: "mote-sim", password: "pw" }, mqtt: { host: "127.0.0.1", port: this.port, keep_alive: 5 }, base, ...cfg };
    const board = new SimBoard({ board: id, serial: `${this.prefix}-sim-${n}`, ...opts.sim });
    this.boards.push(board);
    board.storage.writeText("mote.json", JSON.stringify(c));
    board.storage.writeText("mote.board", JSON.stringify(compactBoard(loadBoard(id))));
    for (const f of readdirSync(join(ROOT, "firmware"))) {
      if (/^mote-(sleep|script)\.js$/.test(f)) board.storage.writeText(f.slice(0, -3), readFileSync(join(ROOT, "firmware", f), "utf8"));
    }
    if (opts.user !== undefined) board.storage.writeText("mote-user.js", opts.user);
    board.flash(readFileSync(FIRMWARE, "utf8"));
    opts.before?.(board);
    board.boot();
    return { board, base, c };
  }
}
