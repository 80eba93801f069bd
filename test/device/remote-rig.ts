// Shared by the remote-management tests: a simulated board flashed with the Storage layout flash.sh
// writes (boot guard, runtime in slot a, feature modules, config, board file), and a host that signs
// commands with src/tools/mote/protocol.ts and sends firmware the way docs/remote-protocol.md says.
import assert from "node:assert/strict";
import { before, after } from "node:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import { SimBoard, flashLayout } from "../../src/host/index.js";
import { mqttjsClient } from "../support/util.js";
import { startMosquitto, type MosquittoInstance } from "../support/mosquitto.js";
import { ROOT } from "../../src/tools/config-check.js";
import { signCommand, hashHex, parseInfo, parseReply, topics, type Alg, type Info, type Reply } from "../../src/tools/mote/protocol.js";

export const fw = (name: string) => readFileSync(join(ROOT, "firmware", name + ".js"), "latin1");
export const KEY = "k3y-0f-th1s-b0ard-for-tests";

/** The files flash.sh puts in Storage for a board with `cfg` (see flash.sh and docs/remote-protocol.md). */
export function flashFiles(boardId: string, cfg: any): Record<string, string> {
  return flashLayout(boardId, cfg);
}

export function flash(board: SimBoard, files: Record<string, string>) {
  for (const [name, text] of Object.entries(files)) board.storage.write(name, Buffer.from(text, "latin1"));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One Mosquitto for a test file (started before its tests, stopped after them with every board and
 * host made), and device(): a board flashed as flash.sh does with remote management on (confirm
 * default 3 s; `user`: mote-user.js with mote-script), booted, and a host on its base topic
 * (<prefix>/<n>), once the board's info is in.
 */
export function remoteSuite(prefix: string) {
  let broker: MosquittoInstance, seq = 0;
  const boards: SimBoard[] = [], hosts: Host[] = [];
  before(async () => { broker = await startMosquitto(); });
  after(async () => {
    for (const b of boards) b.close();
    for (const h of hosts) await h.close();
    await broker?.stop();
  });
  async function device(opts: { board?: string; confirm?: number; user?: string } = {}) {
    const id = opts.board ?? "esp32-devkitc";
    const base = `${prefix}/${++seq}`;
    const cfg = {
      wifi: { ssid: "mote-sim", password: "pw" },
      mqtt: { host: "127.0.0.1", port: broker.port, keep_alive: 5, client_id: `${prefix}-${seq}` },
      base, remote: { key: KEY, confirm: opts.confirm ?? 3 },
    };
    const board = new SimBoard({ board: id, serial: `${prefix}-${seq}` });
    boards.push(board);
    const host = await Host.open(broker.url, base, algOf(board));
    hosts.push(host);
    const files = flashFiles(id, cfg);
    if (opts.user !== undefined) { files["mote-user.js"] = opts.user; files["mote-script"] = fw("mote-script"); }
    flash(board, files);
    board.boot();
    const info = await host.info();
    return { board, host, base, info };
  }
  return { device, get broker() { return broker; } };
}

/** Everything a watcher sees under t/#: retained and live. */
export interface Msg { topic: string; text: string; retain: boolean; at: number }

/** A host on the broker for one board: commands, replies, info, firmware transfer. */
export class Host {
  readonly seen: Msg[] = [];
  private n = 0;
  private constructor(readonly c: MqttClient, readonly base: string, public key: string, public alg: Alg) {}

  static async open(url: string, base: string, alg: Alg, key = KEY): Promise<Host> {
    const c = await mqttjsClient(url);
    const h = new Host(c, base, key, alg);
    c.on("message", (topic, m, p) => h.seen.push({ topic, text: m.toString("latin1"), retain: p.retain, at: Date.now() }));
    await c.subscribeAsync(base + "/#", { qos: 1 });
    return h;
  }

  close() { return this.c.endAsync(); }
  on(topic: string) { return this.seen.filter((m) => m.topic == this.base + "/" + topic); }
  last(topic: string) { return this.on(topic).at(-1); }
  infos(): Info[] { return this.on("info").map((m) => parseInfo(m.text)!).filter(Boolean); }
  replies(): Reply[] { return this.on("reply").map((m) => parseReply(m.text)!).filter(Boolean); }

  async until(pred: () => boolean, what: string, ms = 10000) {
    const t = Date.now();
    while (!pred()) {
      if (Date.now() - t > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}; seen: ${JSON.stringify(this.seen.slice(-12).map((m) => [m.topic, m.text.slice(0, 160)]))}`);
      await sleep(10);
    }
  }

  /** A new info after index `from` of infos() (default: any). */
  async info(pred: (i: Info) => boolean = () => true, from = 0, ms = 10000): Promise<Info> {
    let got: Info | undefined;
    await this.until(() => !!(got = this.infos().slice(from).find(pred)), "info", ms);
    return got!;
  }

  /** The next counter: above every one used so far and above the board's info.n. */
  counter(): number {
    const last = this.infos().at(-1)?.n ?? 0;
    this.n = Math.max(this.n + 1, last + 1, Date.now());
    return this.n;
  }

  /** Publishes a raw payload on <base>/cmd. */
  async publishCmd(payload: Buffer | string) {
    await this.c.publishAsync(topics(this.base).cmd, payload, { qos: 1 });
  }

  /** Signs and sends a command; resolves with the board's reply to it. */
  async cmd(op: string, args: Record<string, unknown> = {}, ms = 10000): Promise<Reply> {
    const cmd = { n: this.counter(), op, ...args };
    await this.publishCmd(signCommand(this.alg, this.key, cmd));
    return this.reply(cmd.n, op, ms);
  }

  async reply(n: number, op: string, ms = 10000): Promise<Reply> {
    let r: Reply | undefined;
    await this.until(() => !!(r = this.replies().find((x) => x.n == n && x.op == op)), `reply to ${op} ${n}`, ms);
    return r!;
  }

  /**
   * Sends `image` as docs/remote-protocol.md says: ota_begin, then chunks paced by the board's acks.
   * `corrupt(offset, chunk)` may change a chunk on its way; `stopAfter` stops sending after that many
   * bytes (a dropped transfer). Resolves with the ota_begin reply and, unless stopped, the ota_end reply.
   */
  async ota(image: Buffer, opts: { hash?: string; corrupt?: (off: number, b: Buffer) => Buffer; stopAfter?: number; ms?: number; abort?: () => boolean;
    args?: Record<string, unknown> } = {}) {
    const hash = opts.hash ?? hashHex(this.alg, image);
    const begin = await this.cmd("ota_begin", { size: image.length, hash, version: "test", ...opts.args }, opts.abort ? 3000 : 10000);
    if (!begin.ok) return { begin };
    const chunk = begin.chunk as number, window = begin.window as number;
    const acks0 = this.on("ota/ack").length;
    let next = begin.next as number, sent = next, end: Reply | undefined;
    const t0 = Date.now();
    for (;;) {
      end = this.replies().find((x) => x.op == "ota_end" && x.n == begin.n);
      if (end) break;
      const acks = this.on("ota/ack").slice(acks0);
      if (acks.length) next = Math.max(next, ...acks.map((a) => +a.text));
      if (sent < next) sent = next;
      if ((opts.stopAfter !== undefined && next >= opts.stopAfter) || opts.abort?.()) return { begin, next };
      while (sent < image.length && sent < next + window * chunk) {
        let b = image.subarray(sent, Math.min(sent + chunk, image.length));
        if (opts.corrupt) b = opts.corrupt(sent, Buffer.from(b));
        await this.c.publishAsync(topics(this.base).otaChunk(sent), b, { qos: 1 });
        sent += b.length;
      }
      if (Date.now() - t0 > (opts.ms ?? 30000)) throw new Error(`ota: no end after ${opts.ms ?? 30000} ms (next ${next})`);
      await sleep(2);
    }
    return { begin, end };
  }
}

/** The hash prefix a board lists for a file and a set names (docs/remote-protocol.md, "Files beside the bundle"). */
export const prefixOf = (alg: Alg, b: Buffer) => hashHex(alg, b).slice(0, 16);

/**
 * An update of files beside the bundle, as `mote ota` sends it: each file staged (ota_begin with file),
 * then the set committed with `bundle` (ota_begin with files, del) or alone (ota_commit). Resolves with
 * the replies: the stage ends, and the commit's (ota_end of the bundle, or ota_commit's reply).
 */
export async function update(host: Host, files: Record<string, Buffer>, o: { bundle?: Buffer; del?: string[]; abort?: () => boolean; ms?: number } = {}) {
  const set: Record<string, string> = {}, staged: Reply[] = [];
  for (const [name, data] of Object.entries(files)) {
    const r = await host.ota(data, { args: { file: name }, abort: o.abort, ms: o.ms });
    staged.push(r.end ?? r.begin);
    if (!r.end?.ok) return { staged, commit: r.end ?? r.begin };
    set[name] = prefixOf(host.alg, data);
  }
  const args = { files: set, ...(o.del ? { del: o.del } : {}) };
  if (o.bundle) {
    const r = await host.ota(o.bundle, { args, abort: o.abort, ms: o.ms });
    return { staged, commit: (r.end ?? r.begin) as Reply };
  }
  return { staged, commit: await host.cmd("ota_commit", args, o.abort ? 3000 : 10000) };
}

/** A board's alg: SHA-256 where its build has it. */
export const algOf = (board: SimBoard): Alg => board.chip == "ESP32" ? "sha256" : "sha1";

export function assertWorking(info: Info, bundles: Record<string, string>, what: string) {
  assert.ok(Object.values(bundles).includes(info.hash), `${what}: the board runs a known bundle, not ${info.hash}`);
}

/** The runtime bundle as built, and the same with another version (so another hash). */
export function bundles() {
  const a = Buffer.from(fw("mote"), "latin1");
  const b = Buffer.from(fw("mote").replace('v:"0.1.0"', 'v:"0.2.0"'), "latin1");
  assert.notDeepEqual(a, b, "the version is in the bundle");
  return { a, b };
}
