// A board under remote management, seen from the host: found by its client id among the retained
// `<base>/info` messages on the broker, given signed commands, its config read and changed, its
// firmware replaced. The wire protocol is docs/remote-protocol.md (topics and signing: protocol.ts).
// Used by `mote config`, `mote ota` and the fleet monitor; everything that fails rejects with a
// RemoteError whose message says what happened and whose `errors` carry the board's own words.
import { EventEmitter } from "node:events";
import crypto from "node:crypto";
import mqtt from "mqtt";
import type { MqttClient, IClientOptions } from "mqtt";
import { type Alg, type Info, type Reply, topics, baseOfInfo, parseInfo, parseReply, signCommand, nextCounter, hashHex } from "./protocol.js";
import type { BrokerOptions } from "./options.js";
import { readKey, keyProblem } from "./keys.js";
import { checkConfig, boardIds, loadBoard } from "../config-check.js";

/** What went wrong, for callers that act on it (the CLI maps these to exit codes). */
export type RemoteErrorCode =
  | "connect"     // the broker could not be reached or refused us
  | "not-found"   // no retained <base>/info names that client id
  | "ambiguous"   // several bases claim it and none is the single one online
  | "not-remote"  // the board has no `remote` in its config: it takes no commands
  | "no-key"      // no device key given and none in the key store
  | "invalid"     // the config failed validation on the host: nothing was sent
  | "too-large"   // the command would not fit the board's largest packet
  | "refused"     // the board said no (bad signature, invalid config, no room, bad image): see errors
  | "rollback"    // the board went back to its previous config or bundle: see errors / info.why
  | "mismatch"    // the board restarted, but on something else than what was sent
  | "timeout"     // no answer, or not back in time
  | "closed";     // close() was called

export class RemoteError extends Error {
  constructor(message: string, readonly code: RemoteErrorCode, readonly errors: string[] = [], readonly info?: Info) {
    super(message);
    this.name = "RemoteError";
  }
}

export interface OpenOptions {
  /** The board's base topic, when known: skips the search (and works where ACLs forbid wildcards). */
  base?: string;
  /** How long to look for the board's retained info (ms, default 5000). */
  findTimeout?: number;
  /** How long to wait for the broker's CONNACK (ms, default 10000). */
  connectTimeout?: number;
  /** How long to wait for the board's reply to a command (ms, default 10000). */
  replyTimeout?: number;
  /** PEM CA certificate(s) for an mqtts:// broker with its own CA. */
  ca?: string | Buffer;
  /** Where `key` was taken from, for messages ("--key", a file); set by open() for the key store. */
  keySource?: string;
}

export type PushState = "validated" | "sent" | "accepted" | "restarting" | "online" | "done";

export interface PushOptions {
  /** How long the board may take to run the new config after accepting it (ms; default: its remote.confirm + 30 s). */
  timeout?: number;
  /** Called at each step, with a line for people. */
  onState?: (state: PushState, detail: string) => void;
  /** Push a config without `remote` (the board then takes no more commands: a cable is needed to undo it). */
  allowNoRemote?: boolean;
}

export interface PushResult {
  info: Info;             // the board's info once it runs the new config
  hashChecked: boolean;   // false when secrets were sent as "***" (the board filled them in: the hash is not known here)
  ms: number;
}

export type OtaState = "begin" | "resume" | "transfer" | "checked" | "restarting" | "online" | "done";

export interface OtaOptions {
  /** The version string given to the board (ota_begin's `version`). */
  version?: string;
  /** After each acknowledged chunk (the last one by ota_end ok): bytes the board has, of total; bytes/s since the start; seconds left. */
  onProgress?: (bytes: number, total: number, rate: number, eta: number) => void;
  onState?: (state: OtaState, detail: string) => void;
  /** Longest wait without progress (ack, reply, the board back on the new bundle), in ms (default 120000). */
  timeout?: number;
  /** No acknowledgement for this long (ms, default 5000): ask the board where it is (ota_begin again) and go on from there. */
  stall?: number;
  /**
   * Stage a file beside the bundle instead (a module mote-<name>, or mote-user.js): resolves once the
   * board has checked it (nothing runs it until a commit: `files` here, or commitFiles()).
   */
  file?: string;
  /** With the bundle: files already staged ({name: hash prefix}, see fileSet()) swapped in with it, on trial together. */
  files?: Record<string, string>;
  /** With the bundle: files deleted with it (mote-user.js). */
  del?: string[];
}

/** What the board has in Storage beside the bundle (the `files` command): name -> size and hash prefix. */
export interface BoardFiles { files: Record<string, { size: number; hash: string }>; free: number; trash: number }

/** Hex digits of a file's hash the board lists and a set names (the transfer checks the whole hash). */
export const FILE_HASH_DIGITS = 16;

export interface OtaResult {
  info: Info;             // the board's info naming the new hash
  hash: string;
  bytes: number;          // bytes sent in this run (less than the image when resumed)
  resumedFrom: number;    // offset the transfer started from (0 for a fresh one)
  ms: number;             // transfer time
  rate: number;           // bytes/s of the transfer
  alreadyRunning: boolean;
}

interface Msg { topic: string; payload: Buffer; retain: boolean }
type Watcher = (m: Msg) => void;

const INFO_DEPTHS = 8; // bases of 1..8 levels are searched for
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A copy of a config where secrets given as "***" (kept by the board) are replaced by placeholders, for validation. */
function unmasked(v: unknown): unknown {
  if (v === "***") return "x".repeat(32);
  if (Array.isArray(v)) return v.map(unmasked);
  if (v && typeof v == "object") {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v)) o[k] = unmasked((v as Record<string, unknown>)[k]);
    return o;
  }
  return v;
}
const hasMasked = (cfg: unknown) => JSON.stringify(cfg).includes('"***"');

/**
 * The errors of a config for a board (boards/<id>.json when the host knows that board), with the
 * same rules as `npm run check-config`; "***" secrets count as set.
 */
export function configErrors(cfg: unknown, boardId?: string): string[] {
  const board = boardId && boardIds().includes(boardId) ? loadBoard(boardId) : undefined;
  return checkConfig(unmasked(cfg), board);
}

export class Remote extends EventEmitter {
  private watchers = new Set<Watcher>();
  private lastN = 0;
  private closed = false;
  private _info: Info;
  private _status: string | undefined;

  private constructor(
    readonly client: MqttClient,
    readonly base: string,
    info: Info,
    private key: string | undefined,
    readonly keySource: string | undefined,
    /** How long to wait for the board's reply to a command, in ms. */
    public replyTimeout: number,
  ) {
    super();
    this._info = info;
    client.on("message", (topic, payload, packet) => {
      const m = { topic, payload, retain: !!packet.retain };
      if (topic == this.topics.info) {
        const i = parseInfo(payload);
        if (i && i.id == this._info.id) { this._info = i; this.emit("info", i, m.retain); }
      } else if (topic == this.topics.status) {
        this._status = payload.toString();
        this.emit("status", this._status);
      }
      for (const w of [...this.watchers]) w(m);
    });
  }

  get topics() { return topics(this.base); }
  /** The board's latest `<base>/info`. */
  info(): Info { return this._info; }
  /** The board's latest `<base>/status` (online, offline, error), if it has one. */
  status(): string | undefined { return this._status; }

  /**
   * Connects to the broker and finds the board whose client id is `deviceId`. `key` defaults to the
   * key store's (flash.sh keeps it there); without one, info() works and commands reject with "no-key".
   */
  static async open(broker: BrokerOptions, deviceId: string, key?: string, opts: OpenOptions = {}): Promise<Remote> {
    let keySource = opts.keySource;
    if (key === undefined) {
      const stored = readKey(deviceId);
      if (stored) { key = stored.key; keySource = stored.file; }
    } else {
      const problem = keyProblem(key);
      if (problem) throw new RemoteError(`the device key ${keySource ? "from " + keySource + " " : ""}is not usable: ${problem}`, "no-key");
    }
    const client = await connect(broker, opts);
    try {
      const { base, info } = await find(client, broker.url, deviceId, opts);
      const remote = new Remote(client, base, info, key, keySource, opts.replyTimeout ?? 10000);
      const t = remote.topics;
      await client.subscribeAsync([t.info, t.status, t.reply, t.otaAck], { qos: 1 });
      // The retained status comes right after the SUBACK; a moment for it (and for a newer info).
      await waitUntil(() => remote._status !== undefined, 300);
      return remote;
    } catch (e) {
      await client.endAsync(true).catch(() => {});
      throw e;
    }
  }

  /** Disconnects from the broker; pending operations reject with code "closed". */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.watchers]) w({ topic: "", payload: Buffer.alloc(0), retain: false });
    await this.client.endAsync(true).catch(() => {});
  }

  /** The board's running config, every secret shown as "***". */
  async getConfig(): Promise<Record<string, any>> {
    const r = await this.command("config_get", {});
    if (!r.config || typeof r.config != "object") throw new RemoteError("the board's config_get reply has no config", "refused", [], this._info);
    return r.config as Record<string, any>;
  }

  /**
   * Sends a new config. Resolves once the board runs it: its info after the restart names the hash of
   * what was sent (boot "config"). Rejects with "invalid" (host validation, nothing sent), "refused"
   * (the board's validator: errors), "rollback" (it could not get online with it and went back: the
   * reason in errors), "mismatch" or "timeout".
   */
  async pushConfig(cfg: Record<string, any>, opts: PushOptions = {}): Promise<PushResult> {
    const t0 = Date.now(), say = opts.onState || (() => {});
    if (!cfg || typeof cfg != "object" || Array.isArray(cfg)) throw new RemoteError("the config must be a JSON object", "invalid");
    const info0 = this.requireRemote();
    const errors = configErrors(cfg, info0.board);
    if (errors.length) throw new RemoteError(`the config is not valid for ${info0.board}: nothing was sent`, "invalid", errors, info0);
    if (!cfg.remote && !opts.allowNoRemote)
      throw new RemoteError("the config has no `remote`: the board would take no more commands and need a cable to change again " +
        "(allowNoRemote / --drop-remote to do it anyway)", "invalid", [], info0);
    say("validated", `valid for ${boardIds().includes(info0.board) ? info0.board : "any board (" + info0.board + " is not known here)"}`);
    // The running config says how long the board waits before a rollback, and how large a packet it takes.
    const running = await this.getConfig();
    const confirm = typeof running.remote?.confirm == "number" ? running.remote.confirm : 60;
    const newConfirm = typeof cfg.remote?.confirm == "number" ? cfg.remote.confirm : confirm;
    const timeout = opts.timeout ?? (Math.max(confirm, newConfirm) + 30) * 1000;
    const json = JSON.stringify(cfg);
    const checkHash = !hasMasked(cfg);
    const want = checkHash ? hashHex(info0.alg, json) : undefined;
    // The board comes back under its new base (and client id) when the config changes them.
    const newId = typeof cfg.mqtt?.client_id == "string" ? cfg.mqtt.client_id : info0.id;
    const newBase = typeof cfg.base == "string" ? cfg.base : "mote/" + newId;
    const newInfo = newBase != this.base ? topics(newBase).info : undefined;
    if (newInfo) await this.client.subscribeAsync(newInfo, { qos: 1 });
    try {
      const { n } = await this.command("config_set", { config: cfg }, running.limits?.max_packet ?? 1024, () =>
        say("sent", `config_set sent (${json.length} bytes)`));
      say("accepted", `the board accepted it and restarts on it (rollback after ${confirm} s without a connection)`);
      const info = await this.watch<Info>(timeout, (m, done, fail) => {
        if (m.topic == this.topics.status && m.payload.toString() == "offline") say("restarting", "the board went offline to restart");
        if (m.topic != this.topics.info && m.topic != newInfo) return;
        const i = parseInfo(m.payload);
        if (!i || (i.id != info0.id && i.id != newId) || (m.retain && !(i.n >= n))) return;
        if (i.boot == "rollback")
          return fail(new RemoteError(`the board went back to its previous config: ${i.why || "no reason given"}`, "rollback", i.why ? [i.why] : [], i));
        if (want ? i.cfg == want : i.boot == "config") return done(i);
        if (i.boot == "config")
          fail(new RemoteError(`the board restarted on a config whose hash ${i.cfg} is not that of the one sent (${want})`, "mismatch", [], i));
      }, () => `the board did not come back on the new config within ${Math.round(timeout / 1000)} s ` +
        `(status ${this._status ?? "unknown"}; last info: boot ${this._info.boot}, cfg ${this._info.cfg})`);
      say("online", `back online: boot ${info.boot}, config ${info.cfg}`);
      say("done", "the board runs the new config");
      return { info, hashChecked: checkHash, ms: Date.now() - t0 };
    } finally {
      if (newInfo) await this.client.unsubscribeAsync(newInfo).catch(() => {});
    }
  }

  /**
   * Sends a new runtime bundle, paced by the board, resuming a transfer of the same image. Resolves
   * once the board's info names the new hash. Rejects with "refused" (no room: the figures; a bad
   * image: the reason), "rollback" (the new bundle failed and the board restored the old one) or "timeout".
   */
  async ota(image: Buffer, opts: OtaOptions = {}): Promise<OtaResult> {
    const info0 = this.requireRemote(), alg: Alg = info0.alg, say = opts.onState || (() => {});
    const hash = hashHex(alg, image), total = image.length;
    const timeout = opts.timeout ?? 120000, stall = opts.stall ?? 5000;
    const extra: Record<string, unknown> = {};
    if (opts.file !== undefined) extra.file = opts.file;
    if (opts.files && Object.keys(opts.files).length) extra.files = opts.files;
    if (opts.del?.length) extra.del = opts.del;
    if (info0.hash == hash && opts.file === undefined && !extra.files && !extra.del) {
      say("done", `the board already runs this bundle (${alg} ${hash})`);
      return { info: info0, hash, bytes: 0, resumedFrom: total, ms: 0, rate: 0, alreadyRunning: true };
    }
    const begin = async () => {
      const r = await this.command("ota_begin", { size: total, hash, version: opts.version ?? "", ...extra });
      const next = r.next as number, chunk = r.chunk as number, window = r.window as number;
      if (!(Number.isInteger(next) && next >= 0 && next <= total && Number.isInteger(chunk) && chunk > 0 && Number.isInteger(window) && window > 0))
        throw new RemoteError(`the board's ota_begin reply makes no sense: ${JSON.stringify(r)}`, "refused", [], this._info);
      return { n: r.n as number, next, chunk, window };
    };
    let b = await begin();
    const resumedFrom = b.next, t0 = Date.now();
    say(b.next ? "resume" : "begin", b.next ? `resuming at byte ${b.next} of ${total}` :
      `sending ${total} bytes in chunks of ${b.chunk}, ${b.window} at a time`);
    // acked: the offset the board asked for last; sent: the end of what was published. The board writes
    // a chunk only at the offset it expects and answers every chunk with the offset it wants next.
    let acked = b.next, sent = b.next, rewoundTo = -1, checked = false, transferEnd = 0, asking = false, stalls = 0;
    let lastProgress = Date.now(), lastAck = Date.now();
    const progress = () => {
      const s = (Date.now() - t0) / 1000, rate = s > 0 ? (acked - resumedFrom) / s : 0;
      opts.onProgress?.(acked, total, rate, rate > 0 ? (total - acked) / rate : Infinity);
    };
    const pump = () => {
      while (sent < total && sent - acked < b.window * b.chunk && !this.closed) {
        const len = Math.min(b.chunk, total - sent);
        this.client.publish(this.topics.otaChunk(sent), image.subarray(sent, sent + len), { qos: 1 });
        sent += len;
      }
    };
    let tick: NodeJS.Timeout | undefined;
    const info = await this.watch<Info>(Infinity, (m, done, fail) => {
      if (m.topic == this.topics.otaAck) {
        const a = Number(m.payload.toString());
        if (!Number.isInteger(a) || a < 0 || a > total) return;
        lastAck = Date.now();
        if (a > acked) {
          acked = a; rewoundTo = -1; lastProgress = lastAck; stalls = 0;
          if (sent < a) sent = a;
          progress();
          if (acked == total && !transferEnd) { transferEnd = Date.now(); say("transfer", `all ${total} bytes sent`); }
        } else if (a < acked || (a == acked && sent > a && rewoundTo != a)) {
          // The board wants an earlier offset (a chunk lost, or it restarted): go back once to it; the
          // acks of chunks already on their way repeat that offset and do not rewind again.
          acked = a; sent = a; rewoundTo = a;
        }
        pump();
      } else if (m.topic == this.topics.reply) {
        const r = parseReply(m.payload);
        if (!r || r.op != "ota_end") return;
        if (!r.ok) return fail(new RemoteError(`the board rejected the image: ${(r.err || []).join("; ") || "no reason given"}`, "refused", r.err || [], this._info));
        // The board acknowledges the last chunk with this reply, not with an ack: it has every byte.
        if (acked < total) {
          acked = sent = total;
          progress();
          if (!transferEnd) { transferEnd = Date.now(); say("transfer", `all ${total} bytes sent`); }
        }
        checked = true; lastProgress = Date.now();
        // A file is staged, not run: done here.
        if (opts.file !== undefined) return done(this._info);
        say("checked", "the board checked length and hash; it swaps the bundle in and restarts");
      } else if (m.topic == this.topics.status) {
        if (m.payload.toString() == "offline" && acked == total) say("restarting", "the board went offline to restart");
      } else if (m.topic == this.topics.info) {
        const i = parseInfo(m.payload);
        if (!i || i.id != info0.id || (m.retain && !(i.n >= b.n))) return;
        if (i.hash == hash) return done(i);
        if (i.boot == "rollback")
          return fail(new RemoteError(`the board rolled back to its previous bundle: ${i.why || "no reason given"}`, "rollback", i.why ? [i.why] : [], i));
      }
    }, undefined, (done, fail) => {
      pump();
      tick = setInterval(() => {
        const now = Date.now();
        if (now - lastProgress > timeout)
          return fail(new RemoteError(acked == total
            ? `the board did not come back on the new bundle within ${Math.round(timeout / 1000)} s (status ${this._status ?? "unknown"}; ` +
              `it runs ${this._info.hash}, boot ${this._info.boot}${checked ? "; it had checked the image" : ""})`
            : `the transfer made no progress for ${Math.round(timeout / 1000)} s (the board has ${acked} of ${total} bytes; status ${this._status ?? "unknown"})`,
            "timeout", [], this._info));
        // During the transfer, silence means a lost connection or a restarted board: ask where it is.
        if (acked == total || asking || now - lastAck < stall || this._status == "offline") return;
        asking = true; stalls++;
        begin().then((r) => {
          b = r; acked = sent = r.next; rewoundTo = -1; lastAck = Date.now();
          say("resume", `no acknowledgement for ${stall} ms (${stalls}): the board has ${r.next} of ${total} bytes, going on from there`);
          progress();
          pump();
        }, (x) => {
          if (x instanceof RemoteError && x.code == "timeout") lastAck = Date.now(); // ask again later
          else fail(x);
        }).finally(() => { asking = false; });
      }, Math.max(50, Math.min(stall, 1000) / 4));
    }).finally(() => clearInterval(tick));
    if (opts.file !== undefined) say("checked", `${opts.file} staged: the board checked its length and hash`);
    else {
      say("online", `the board runs ${hash} (boot ${info.boot})`);
      say("done", "firmware updated");
    }
    const ms = (transferEnd || Date.now()) - t0;
    return { info, hash, bytes: total - resumedFrom, resumedFrom, ms, rate: ms ? ((total - resumedFrom) * 1000) / ms : 0, alreadyRunning: false };
  }

  /** What the board has in Storage beside the bundle: its modules, mote-user.js, the files of an update. */
  async files(): Promise<BoardFiles> {
    const r = await this.command("files", {});
    const files: BoardFiles["files"] = {};
    if (!r.files || typeof r.files != "object") throw new RemoteError("the board's files reply has no files", "refused", [], this._info);
    for (const [name, v] of Object.entries(r.files as Record<string, unknown>))
      if (Array.isArray(v)) files[name] = { size: Number(v[0]), hash: String(v[1]) };
    return { files, free: Number(r.free) || 0, trash: Number(r.trash) || 0 };
  }

  /**
   * Swaps in files staged with ota(data, {file}) ({name: hash prefix}) and deletes `del`, the bundle
   * staying; the board restarts on them under the boot guard. Resolves with its info once it is back
   * online on them (boot "ota"); rejects with "refused", "rollback" (they failed: the previous files
   * are back) or "timeout" (ms: the longest wait for the board to come back, default 120000).
   */
  async commitFiles(files: Record<string, string>, del: string[] = [], timeout = 120000): Promise<Info> {
    const { n } = await this.command("ota_commit", { files, ...(del.length ? { del } : {}) });
    return this.watch<Info>(timeout, (m, done, fail) => {
      if (m.topic != this.topics.info) return;
      const i = parseInfo(m.payload);
      if (!i || i.id != this._info.id || !(i.n >= n)) return;
      if (i.boot == "ota") done(i);
      else if (i.boot == "rollback")
        fail(new RemoteError(`the board went back to its previous files: ${i.why || "no reason given"}`, "rollback", i.why ? [i.why] : [], i));
    }, () => `the board did not come back on the new files within ${Math.round(timeout / 1000)} s (status ${this._status ?? "unknown"})`);
  }

  /** Asks the board to restart; resolves with its info after the restart (boot "restart"). */
  async restart(timeout = 30000): Promise<Info> {
    const { n } = await this.command("restart", {});
    return this.watch<Info>(timeout, (m, done) => {
      if (m.topic != this.topics.info) return;
      const i = parseInfo(m.payload);
      if (i && i.id == this._info.id && (!m.retain || i.n >= n)) done(i);
    }, () => `the board did not come back within ${Math.round(timeout / 1000)} s after restart`);
  }

  // --------------------------------------------------------------------------------------- internals

  private requireRemote(): Info {
    if (this.closed) throw new RemoteError("closed", "closed");
    const i = this._info;
    if (i.remote !== true) throw new RemoteError(`${i.id} takes no commands: its config has no \`remote\` (flash it with flash.sh --remote)`, "not-remote", [], i);
    return i;
  }

  /**
   * Signs and publishes a command, then waits for its reply; rejects with "refused" and the board's
   * errors when the reply says no. `maxPacket`: the board's largest packet, when known.
   */
  private async command(op: string, args: Record<string, unknown>, maxPacket?: number, sent?: () => void): Promise<Reply & { n: number }> {
    const info = this.requireRemote();
    if (this.key === undefined)
      throw new RemoteError(`no device key for ${info.id}: give --key or --key-file, or flash the board with flash.sh --remote (it keeps the key where mote looks)`, "no-key", [], info);
    const n = nextCounter(Math.max(info.n || 0, this.lastN));
    this.lastN = n;
    const payload = signCommand(info.alg, this.key, { n, op, ...args });
    const size = 5 + Buffer.byteLength(this.topics.cmd) + payload.length; // fixed header (<= 3 bytes of length) + topic + id
    if (maxPacket && size > maxPacket)
      throw new RemoteError(`${op} would be a ${size}-byte packet but the board takes at most ${maxPacket} (limits.max_packet): nothing was sent`, "too-large", [], info);
    const reply = this.watch<Reply>(this.replyTimeout, (m, done) => {
      if (m.topic != this.topics.reply) return;
      const r = parseReply(m.payload);
      // A refusal may come without n and op (the board could not read them): ours if it is the only one pending.
      if (r && (r.n === n ? r.op === undefined || r.op == op : r.n === undefined && !r.ok && (r.op === undefined || r.op == op))) done(r);
    }, () => `no reply from ${info.id} to ${op} within ${Math.round(this.replyTimeout / 1000)} s (status ${this._status ?? "unknown"})`);
    reply.catch(() => {}); // settled below, or left behind when the publish fails
    const published = this.client.publishAsync(this.topics.cmd, payload, { qos: 1 }).then(() => { sent?.(); },
      (e: Error) => { throw new RemoteError(`could not send ${op} to the broker: ${e.message}`, "connect", [], info); });
    const [, r] = await Promise.all([published, reply]); // either failing fails the command at once
    if (!r.ok) {
      const err = Array.isArray(r.err) ? r.err.map(String) : [];
      throw new RemoteError(`${info.id} refused ${op}${err.length ? ": " + err.join("; ") : ""}` +
        (err.some((e) => /mac|sign|key|hmac/i.test(e)) ? ` (is the device key right? it came from ${this.keySource ?? "the caller"})` : ""),
        "refused", err, this._info);
    }
    return r as Reply & { n: number };
  }

  /**
   * Resolves or rejects from a handler that sees every message; rejects with "timeout" (the message
   * from `what`) when neither happened within `ms` (Infinity: no limit). `after` runs once the handler
   * is in place, with the same done and fail.
   */
  private watch<T>(ms: number, on: (m: Msg, done: (v: T) => void, fail: (e: Error) => void) => void,
    what?: () => string, after?: (done: (v: T) => void, fail: (e: Error) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = () => { this.watchers.delete(w); clearTimeout(timer); };
      const done = (v: T) => { finish(); resolve(v); };
      const fail = (e: Error) => { finish(); reject(e); };
      const w: Watcher = (m) => {
        if (this.closed) return fail(new RemoteError("closed", "closed"));
        try { on(m, done, fail); } catch (e) { fail(e as Error); }
      };
      this.watchers.add(w);
      if (ms != Infinity) timer = setTimeout(() => fail(new RemoteError(what ? what() : `nothing for ${ms} ms`, "timeout", [], this._info)), ms);
      if (this.closed) fail(new RemoteError("closed", "closed"));
      else after?.(done, fail);
    });
  }
}

async function waitUntil(pred: () => boolean, ms: number): Promise<void> {
  const t = Date.now();
  while (!pred() && Date.now() - t < ms) await sleep(20);
}

/** An mqtt.js client connected to the broker (reconnecting by itself afterwards), or a "connect" error. */
function connect(broker: BrokerOptions, opts: OpenOptions): Promise<MqttClient> {
  const o: IClientOptions = {
    protocolVersion: 4, clean: true, reconnectPeriod: 1000, connectTimeout: opts.connectTimeout ?? 10000,
    clientId: "mote-host-" + crypto.randomBytes(4).toString("hex"),
    username: broker.username, password: broker.password, ca: opts.ca,
  };
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(broker.url, o);
    const fail = (why: string) => {
      client.removeAllListeners();
      client.on("error", () => {});
      client.end(true);
      reject(new RemoteError(`cannot connect to ${broker.url}: ${why}`, "connect"));
    };
    const timer = setTimeout(() => fail(`no answer within ${Math.round((o.connectTimeout as number) / 1000)} s`), (o.connectTimeout as number) + 500);
    client.once("connect", () => {
      clearTimeout(timer);
      client.removeAllListeners("error");
      client.on("error", () => {}); // later errors: mqtt.js reconnects; operations time out with a clear message
      resolve(client);
    });
    client.once("error", (e: Error & { code?: unknown }) => {
      clearTimeout(timer);
      const refused: { [k: number]: string } = { 4: "bad user name or password", 5: "not authorized" };
      fail(typeof e.code == "number" && refused[e.code] ? `the broker refused us: ${refused[e.code]}` : e.message);
    });
  });
}

/**
 * The board's base and info: the retained `<base>/info` whose id is `deviceId`, at one given base or
 * at any base of 1..8 levels. Several bases claiming the id (an old retained info after a base change)
 * are settled by which one's status is online.
 */
async function find(client: MqttClient, url: string, deviceId: string, opts: OpenOptions): Promise<{ base: string; info: Info }> {
  const found = new Map<string, Info>(), ids = new Set<string>();
  const onMessage = (topic: string, payload: Buffer) => {
    const base = baseOfInfo(topic), info = base ? parseInfo(payload) : undefined;
    if (!base || !info) return;
    ids.add(info.id);
    if (info.id == deviceId) found.set(base, info);
  };
  client.on("message", onMessage);
  const filters = opts.base ? [topics(opts.base).info] : Array.from({ length: INFO_DEPTHS }, (_, k) => "+/".repeat(k + 1) + "info");
  try {
    await client.subscribeAsync(filters, { qos: 0 });
    const limit = opts.findTimeout ?? 5000, t0 = Date.now();
    await waitUntil(() => found.size > 0, limit);
    if (found.size) await sleep(Math.min(300, Math.max(0, limit - (Date.now() - t0)))); // other bases claiming it
  } finally {
    client.removeListener("message", onMessage);
    await client.unsubscribeAsync(filters).catch(() => {});
  }
  if (!found.size) {
    const seen = [...ids].sort();
    throw new RemoteError(`no board with client id ${JSON.stringify(deviceId)} on ${url}${opts.base ? " at base " + opts.base : ""}: ` +
      (seen.length ? `boards there: ${seen.slice(0, 20).join(", ")}${seen.length > 20 ? ", ..." : ""}` :
        "no board has published its <base>/info there (has it connected since it was flashed?)"), "not-found");
  }
  if (found.size == 1) {
    const [base, info] = [...found][0];
    return { base, info };
  }
  // Several: the one whose retained status is "online".
  const status = new Map<string, string>();
  const onStatus = (topic: string, payload: Buffer) => { if (topic.endsWith("/status")) status.set(topic.slice(0, -7), payload.toString()); };
  client.on("message", onStatus);
  const statusTopics = [...found.keys()].map((b) => topics(b).status);
  try {
    await client.subscribeAsync(statusTopics, { qos: 0 });
    await waitUntil(() => status.size == found.size, 1000);
  } finally {
    client.removeListener("message", onStatus);
    await client.unsubscribeAsync(statusTopics).catch(() => {});
  }
  const online = [...found.keys()].filter((b) => status.get(b) == "online");
  if (online.length == 1) return { base: online[0], info: found.get(online[0]) as Info };
  throw new RemoteError(`${found.size} bases claim client id ${deviceId} (${[...found.keys()].join(", ")}) and ` +
    `${online.length ? online.length + " are" : "none is"} online: name one with --base`, "ambiguous");
}
