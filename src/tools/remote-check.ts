// Remote management on the real interpreter: `ESPRUINO=/path/to/espruino npm run remote-check`.
// Runs the measurements of the bench's remote section (bench-remote.ts: the same code) and checks
// them: on each layout (the 1,600-variable one from ESPRUINO_1600, default espruino-1600 next to
// ESPRUINO, then ESPRUINO's), with 4 sensors, 2 actuators, Home Assistant, the diagnostics and remote
// management on,
//   - an update over MQTT succeeds (ota_begin, chunks, swap, reboot on the new bundle), with no
//     out-of-memory, and on the 1,600 layout at most 150 variables above idle at its peak;
//   - a config change succeeds (config_get, config_set, restart, back online on it), with no out-of-memory;
//   - on the 1,600 layout, at least 600 variables free with everything on;
//   - over MQTT no slower than the espruino tool's own upload over --telnet (reported; not a failure:
//     it depends on the load of the machine);
//   - on ESPRUINO's layout, the user's script over MQTT (files beside the bundle): mote-user.js and
//     mote-script staged, committed and running, listed by `files`; then a script that resets the
//     board rolled back by the boot guard, the previous script running again.
//   - on every layout, what goes wrong (a board without Home Assistant, remote.confirm 6 s, on a broker
//     with a password):
//     an invalid config refused with the board's errors, nothing changed and no restart; a replayed and
//     a forged command refused; an image whose bytes are not those of its hash (corrupted, wrong hash)
//     refused, the bundle running on; a config with an unreachable broker port, and one with a wrong
//     password, rolled back by the board after confirm; a bundle that throws at boot, and one that never
//     connects, rolled back by the boot guard, info saying `rollback` and why.
// Prints the figures and exits 1 when a check fails, 2 without ESPRUINO.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startMosquitto, type MosquittoInstance } from "../../test/support/mosquitto.js";
import { mqttjsClient } from "../../test/support/util.js";
import { KEY, benchConfig, bootEspBoard, measureRemote, printRemote, remoteInterpreters, type EspBoard } from "./bench-remote.js";
import { FILE_HASH_DIGITS, RemoteError, type Remote } from "./mote/remote.js";
import { hashHex, nextCounter, parseReply, signCommand, type Reply } from "./mote/protocol.js";
import { ROOT } from "./config-check.js";

type Check = (ok: boolean, what: string) => void;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(f: () => boolean, what: string, ms = 10000) {
  for (const t = Date.now(); !f(); await sleep(20)) if (Date.now() - t > ms) throw new Error("timed out waiting for " + what);
}

/** The user's script over MQTT on the interpreter `bin` (a board without Home Assistant: it is about the script). */
async function userScriptCheck(bin: string, broker: MosquittoInstance, check: Check) {
  console.log(`user script over MQTT (${bin})`);
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "mote-remote-check-"));
  const cfg = { ...benchConfig(broker.port, `u${process.pid}`), homeassistant: undefined };
  const watch = await mqttjsClient(broker.url);
  const who: string[] = [];
  watch.on("message", (t, m) => { if (t == cfg.base + "/who") who.push(m.toString()); });
  await watch.subscribeAsync(cfg.base + "/who", { qos: 1 });
  const { board, remote } = await bootEspBoard(bin, bin, cwd, broker, cfg);
  const send = async (set: Record<string, string>) => {
    const sums: Record<string, string> = {}, t0 = Date.now();
    for (const [name, text] of Object.entries(set)) {
      const data = Buffer.from(text, "latin1");
      await remote.ota(data, { file: name, timeout: 60000 });
      sums[name] = hashHex(remote.info().alg, data).slice(0, FILE_HASH_DIGITS);
    }
    return { info: await remote.commitFiles(sums, [], 90000).catch((e) => e.info ?? e), ms: Date.now() - t0 };
  };
  try {
    const good = 'mote.publish("who", "user script", { qos: 1 });\n';
    const script = fs.readFileSync(path.join(ROOT, "firmware", "mote-script.js"), "latin1");
    const r1 = await send({ "mote-user.js": good, "mote-script": script });
    await until(() => who.length > 0, "the script's publish");
    check(r1.info.boot == "ota", `mote-user.js and mote-script staged, committed, running: boot ${r1.info.boot}, ${r1.ms} ms`);
    const u = (await remote.files()).files["mote-user.js"];
    check(!!u && u.size == good.length && u.hash == hashHex(remote.info().alg, Buffer.from(good)).slice(0, FILE_HASH_DIGITS),
      `files lists mote-user.js: ${JSON.stringify(u)}`);
    const k = who.length, boots = board.boots, r2 = await send({ "mote-user.js": "E.reboot();\n" });
    check(r2.info.boot == "rollback" && /reset 3 times/.test(r2.info.why ?? ""),
      `a script resetting the board: ${r2.info.boot} (${r2.info.why}) after ${board.boots - boots} starts`);
    await until(() => who.length > k, "the previous script again", 20000);
    check(true, "the previous script runs again");
  } catch (e) {
    check(false, `user script: ${(e as Error).message}`);
    console.log("--- the board's console (end):\n" + board.out.slice(-1500));
  } finally {
    await remote.close();
    await board.stop();
    await watch.endAsync();
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

/**
 * Commands the library does not send (it signs with the right key, counts up, and announces the hash
 * of what it sends): signed here and published on the library's connection; the board's replies and
 * its error lines collected.
 */
class RawCommands {
  readonly replies: Reply[] = [];
  readonly errors: string[] = [];
  private n = 0;
  private constructor(readonly remote: Remote) {
    const t = remote.topics;
    remote.client.on("message", (topic, m) => {
      const r = topic == t.reply ? parseReply(m) : undefined;
      if (r) this.replies.push(r);
      if (topic == t.error) this.errors.push(m.toString());
    });
  }
  static async open(remote: Remote) {
    const raw = new RawCommands(remote);
    await remote.client.subscribeAsync(remote.topics.error, { qos: 1 });
    return raw;
  }
  /** The first reply from index `from` on that `pick` takes. */
  async reply(from: number, pick: (r: Reply) => boolean, ms = 10000): Promise<Reply> {
    let r: Reply | undefined;
    await until(() => !!(r = this.replies.slice(from).find(pick)), "the board's reply", ms);
    return r!;
  }
  /** Publishes `payload` on <base>/cmd; resolves with the reply to counter n. */
  async send(payload: Buffer, n: number): Promise<Reply> {
    const from = this.replies.length;
    await this.remote.client.publishAsync(this.remote.topics.cmd, payload, { qos: 1 });
    return this.reply(from, (r) => r.n == n);
  }
  /** A command with a fresh counter, signed under `key`: its payload, counter and the board's reply. */
  async command(op: string, args: Record<string, unknown> = {}, key = KEY) {
    const n = this.n = nextCounter(Math.max(this.remote.info().n, this.n));
    const payload = signCommand(this.remote.info().alg, key, { n, op, ...args });
    return { payload, n, reply: await this.send(payload, n) };
  }
  /** `data` announced as an image of hash `hash`: ota_begin, its chunks (one window: no pacing needed), the ota_end reply. */
  async image(data: Buffer, hash: string): Promise<Reply> {
    const { n, reply: begin } = await this.command("ota_begin", { size: data.length, hash, version: "check" });
    const chunk = begin.chunk as number;
    if (!begin.ok || data.length > chunk * (begin.window as number)) return begin;
    const from = this.replies.length;
    for (let at = 0; at < data.length; at += chunk)
      await this.remote.client.publishAsync(this.remote.topics.otaChunk(at), data.subarray(at, at + chunk), { qos: 1 });
    return this.reply(from, (r) => r.op == "ota_end" && r.n == n);
  }
}

/** Seconds a board on trial has to get online (remote.confirm) in the checks of what goes wrong. */
const CONFIRM = 6;

/** What goes wrong (see the top), on the interpreter `bin`, its Storage written by `writer`. */
async function failureChecks(label: string, bin: string, writer: string, check: Check) {
  console.log(`what goes wrong, ${label} (remote.confirm ${CONFIRM} s)`);
  const broker = await startMosquitto({ passwordFile: { dev: "devpw" }, allowAnonymous: true });
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "mote-remote-check-"));
  const bench = benchConfig(broker.port, `f${process.pid}`);
  const cfg = { ...bench, homeassistant: undefined, mqtt: { ...bench.mqtt, username: "dev", password: "devpw" }, remote: { key: KEY, confirm: CONFIRM } };
  let board: EspBoard | undefined, remote: Remote | undefined;
  const t0 = Date.now(), at = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  try {
    ({ board, remote } = await bootEspBoard(bin, writer, cwd, broker, cfg));
    const raw = await RawCommands.open(remote), info0 = remote.info(), running = await remote.getConfig();
    let boots = board.boots;
    /** No restart, the same bundle and config, still online: the board went on. */
    const wentOn = async () => {
      await sleep(1000);
      const i = remote!.info();
      return board!.boots == boots && i.hash == info0.hash && i.cfg == info0.cfg && remote!.status() == "online";
    };

    const bad = { ...running, sensors: [...running.sensors, { name: "x", type: "laser" }] };
    const r1 = (await raw.command("config_set", { config: bad })).reply;
    check(!r1.ok && !!r1.err?.some((e) => /unknown type laser/.test(e)) && await wentOn() &&
      JSON.stringify(await remote.getConfig()) == JSON.stringify(running),
      `an invalid config refused with the board's errors (${JSON.stringify(r1.err)}), the same config after it, no restart, online (${at()})`);

    const get = await raw.command("config_get"), again = await raw.send(get.payload, get.n);
    check(get.reply.ok && !again.ok && /stale counter/.test(again.err?.[0] ?? ""), `a replayed command refused: ${JSON.stringify(again.err)}`);
    const forged = (await raw.command("config_get", {}, "not-the-key-of-this-board")).reply;
    check(!forged.ok && forged.err?.[0] == "bad mac" && !("config" in forged), `a forged command refused: ${JSON.stringify(forged.err)}`);

    const img = Buffer.from('print("never run: the check refuses it");\n'.repeat(8), "latin1"), alg = info0.alg;
    const corrupted = Buffer.from(img);
    corrupted[100] ^= 0x20;
    const other = Buffer.from(img.toString("latin1").replace("never", "NEVER"), "latin1");
    for (const [what, data, hash] of [["a corrupted image", corrupted, hashHex(alg, img)], ["a wrong hash", img, hashHex(alg, other)]] as const) {
      const end = await raw.image(data, hash);
      check(end.op == "ota_end" && !end.ok && /^hash mismatch/.test(end.err?.[0] ?? "") && await wentOn(),
        `${what} refused (${JSON.stringify(end.err)}), the running bundle goes on, no restart`);
    }
    check(raw.errors.filter((e) => /^remote: refused config_set: sensors\[4\]\.type: unknown type laser/.test(e)).length == 1 &&
      raw.errors.filter((e) => /^remote: refused config_get/.test(e)).length == 2 && raw.errors.filter((e) => /^remote: update refused: hash mismatch/.test(e)).length == 2,
      `the invalid config, the replay, the forgery and both images said on <base>/error: ${JSON.stringify(raw.errors.map((e) => e.slice(0, 50)))}`);

    /** A change the board must undo by itself: the RemoteError of the library, how long and how many starts it took. */
    const undone = async (change: () => Promise<unknown>) => {
      const t = Date.now();
      boots = board!.boots;
      const e = await change().then(() => new RemoteError("accepted: not rolled back", "mismatch"), (e: RemoteError) => e);
      return { e, why: e.info?.why ?? e.message, ms: Date.now() - t, starts: board!.boots - boots };
    };
    const back = (e: RemoteError) => e.code == "rollback" && e.info?.boot == "rollback" && e.info.hash == info0.hash && e.info.cfg == info0.cfg;
    for (const [what, change] of [["an unreachable broker port", (c: any) => { c.mqtt.port = 1; }],
      ["a wrong password", (c: any) => { c.mqtt.password = "wrong-password"; }]] as const) {
      const c = await remote.getConfig();
      change(c);
      const u = await undone(() => remote!.pushConfig(c, { timeout: 60000 }));
      check(back(u.e) && /not online/.test(u.why) && u.ms >= CONFIRM * 1000,
        `a config with ${what}: the previous config back by itself (${u.e.code}: ${u.why}) after ${u.ms} ms, ${u.starts} starts`);
    }
    for (const [what, text, why] of [["a bundle that throws at boot", 'throw new Error("boom");', /boom/],
      ["a bundle that never connects", 'E.on("init", function () { print("idle"); setInterval(function () {}, 1000); });', /not online within/]] as const) {
      const u = await undone(() => remote!.ota(Buffer.from(text, "latin1"), { timeout: 60000 }));
      check(back(u.e) && why.test(u.why), `${what}: the boot guard boots the previous one (${u.e.code}: ${u.why}) after ${u.ms} ms, ${u.starts} starts`);
    }
    check((await remote.getConfig()).sensors.length == running.sensors.length, `commands taken after all that (${at()})`);
  } catch (e) {
    check(false, `what goes wrong: ${(e as Error).message}`);
    if (board) console.log("--- the board's console (end):\n" + board.out.slice(-1500));
  } finally {
    await remote?.close();
    await board?.stop();
    await broker.stop();
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

async function main() {
  if (!remoteInterpreters().length) { console.log("remote-check: set ESPRUINO to an Espruino built for Linux"); process.exit(2); }
  const broker = await startMosquitto();
  let fail = false;
  const check = (ok: boolean, what: string) => { console.log(`  ${ok ? "ok  " : "FAIL"} ${what}`); if (!ok) fail = true; };
  try {
    const f = await measureRemote(broker, (s) => console.log(s));
    printRemote(f);
    for (const l of f.layouts) {
      const small = l.small;
      console.log(l.label);
      check(!!l.ota && !l.ota.oom, `update: ${l.ota ? `${l.ota.bytes} bytes at ${l.ota.rate} bytes/s, ${l.ota.extra} variables above idle at the peak` : l.otaError}`);
      if (small && l.ota) check(l.ota.extra <= 150, `update: peak ${l.ota.extra} variables above idle (${l.ota.idle}) (goal <= 150)`);
      check(!!l.config && !l.config.oom, `config change: ${l.config ? `back online on it in ${l.config.ms} ms, ${l.config.extra} variables above idle at the peak` : l.configError}`);
      if (small) check(!!l.idle && l.idle.free >= 600, `idle with everything on: ${l.idle ? l.idle.free : "-"} variables free (goal >= 600)`);
      if (l.ota && l.telnet) console.log(`  note update over MQTT ${(l.ota.rate / l.telnet.rate).toFixed(2)}x the espruino tool's upload over telnet (goal >= 1)`);
    }
    const big = remoteInterpreters().find((l) => !l.small);
    if (big) await userScriptCheck(big.bin, broker, check);
    if (big) for (const l of [...remoteInterpreters()].reverse()) await failureChecks(l.label, l.bin, big.bin, check);
  } finally {
    await broker.stop();
  }
  process.exit(fail ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
