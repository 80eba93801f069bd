// The Remote library (src/tools/mote/remote.ts) against real Mosquitto and a stand-in board
// (stand-in.ts): finding a board, signing (checked with the stand-in's own HMAC code and against
// protocol.ts), replies and refusals, config push outcomes, and the image transfer's pacing, lost
// chunks, resume and outcomes. The real board bundle is exercised by e2e.test.ts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startMosquitto, type MosquittoInstance } from "../../support/mosquitto.js";
import { Remote, RemoteError } from "../../../src/tools/mote/remote.js";
import { signCommand, hashHex } from "../../../src/tools/mote/protocol.js";
import { saveKey } from "../../../src/tools/mote/keys.js";
import { StandIn } from "./stand-in.js";

const KEY = "test-key-0123456789abcdef";
let broker: MosquittoInstance, xdg: string, seq = 0;
const boards: StandIn[] = [], remotes: Remote[] = [];

before(async () => {
  broker = await startMosquitto();
  xdg = mkdtempSync(join(tmpdir(), "mote-remote-keys-"));
  process.env.XDG_CONFIG_HOME = xdg;
});
after(async () => {
  for (const r of remotes) await r.close();
  for (const b of boards) await b.stop().catch(() => {});
  await broker?.stop();
  rmSync(xdg, { recursive: true, force: true });
});

async function standIn(info: Record<string, unknown> = {}, base?: string) {
  seq++;
  const b = await new StandIn(base ?? `site/${seq}/dev`, { id: `dev-${seq}`, ...info } as any, KEY).start(broker.url);
  boards.push(b);
  return b;
}
/** Opens a board with KEY, another key, or (null) the key store's. */
async function open(id: string, key: string | null = KEY, opts = {}) {
  const r = await Remote.open({ url: broker.url }, id, key ?? undefined, { replyTimeout: 3000, ...opts });
  remotes.push(r);
  return r;
}
async function rejects(p: Promise<unknown>, code: string, message: RegExp, errors?: string[]) {
  const e = await p.then(() => undefined, (x) => x);
  assert.ok(e instanceof RemoteError, `expected a RemoteError ${code}, got ${e}`);
  assert.equal(e.code, code, e.message);
  assert.match(e.message, message);
  if (errors) assert.deepEqual(e.errors, errors);
  return e;
}
const CFG = { wifi: { ssid: "net" }, mqtt: { host: "10.0.0.2", client_id: "x" }, base: "b/c" };

test("open: finds the board by client id at any depth, not-found lists the boards seen, duplicates settled by status", async () => {
  const a = await standIn({}, `deep/er/than/usual/${seq + 1}`), b = await standIn({}, `top${seq + 1}`);
  const ra = await open(a.info.id), rb = await open(b.info.id);
  assert.equal(ra.base, a.base);
  assert.equal(rb.base, b.base);
  assert.deepEqual(ra.info(), a.info);
  await rejects(Remote.open({ url: broker.url }, "nobody-here", KEY, { findTimeout: 800 }), "not-found",
    new RegExp(`no board with client id "nobody-here" on ${broker.url}: boards there: .*${a.info.id}`));
  // an old retained info at another base (the board moved): the one online wins; two online: ambiguous
  const old = await standIn({ id: "moved" }), now = await standIn({ id: "moved" });
  await old.status("offline");
  await now.status("online");
  assert.equal((await open("moved")).base, now.base);
  await old.status("online");
  await rejects(Remote.open({ url: broker.url }, "moved", KEY), "ambiguous", /2 bases claim client id moved .* 2 are online: name one with --base/);
  assert.equal((await open("moved", KEY, { base: old.base })).base, old.base);
  // a broker that is not there
  await rejects(Remote.open({ url: "mqtt://127.0.0.1:1" }, "x", KEY), "connect", /cannot connect to mqtt:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
});

test("signing: <mac> <json> over the exact bytes, as protocol.ts signs; counters above info.n and rising", async () => {
  const b = await standIn({ n: Date.now() + 60000 }); // a board whose last counter is ahead of our clock
  b.onCommand = (c) => c.op == "config_get" ? { ok: true, config: { ...CFG, mqtt: { ...CFG.mqtt, password: "***" } } } : { ok: true };
  const r = await open(b.info.id);
  const t0 = Date.now();
  assert.deepEqual(await r.getConfig(), { ...CFG, mqtt: { ...CFG.mqtt, password: "***" } });
  await r.getConfig();
  const [c1, c2] = b.commands;
  assert.ok(c1.macOk && c2.macOk, "the stand-in's own HMAC-SHA256 check passes");
  assert.equal(c1.mac.length, 64);
  assert.deepEqual(Object.keys(c1.cmd), ["n", "op"]);
  assert.equal(c1.cmd.op, "config_get");
  assert.ok(c1.cmd.n > t0 + 60000 - 1000, "above the board's counter even when it is ahead of the clock");
  assert.ok(c2.cmd.n > c1.cmd.n);
  assert.equal(c1.mac + " " + c1.json, signCommand("sha256", KEY, c1.cmd).toString("utf8"));
  // a SHA-1 board (ESP8266) gets HMAC-SHA1, and a clock-based counter
  const s = await standIn({ alg: "sha1", hash: "1".repeat(40), cfg: "2".repeat(40), board: "esp8266-nodemcu" });
  s.onCommand = () => ({ ok: true, config: CFG });
  await (await open(s.info.id)).getConfig();
  assert.equal(s.commands[0].mac.length, 40);
  assert.ok(s.commands[0].macOk);
  assert.ok(Math.abs(s.commands[0].cmd.n - Date.now()) < 5000);
});

test("keys: the key store by client id, a wrong key refused by the board (its words), no key, a short key", async () => {
  const b = await standIn();
  b.onCommand = () => ({ ok: true, config: CFG });
  await rejects((await open(b.info.id, null)).getConfig(), "no-key", /no device key for dev-\d+: give --key or --key-file, or flash the board with flash\.sh --remote/);
  const file = saveKey(b.info.id, KEY);
  const r = await open(b.info.id, null);
  assert.equal(r.keySource, file);
  assert.deepEqual(await r.getConfig(), CFG);
  const wrong = await open(b.info.id, "another-key-0123456789");
  await rejects(wrong.getConfig(), "refused", /dev-\d+ refused config_get: bad mac: command refused \(is the device key right\? it came from the caller\)/,
    ["bad mac: command refused"]);
  assert.equal(b.commands.at(-1)?.macOk, false);
  await rejects(Remote.open({ url: broker.url }, b.info.id, "short", { keySource: "--key" }), "no-key", /the device key from --key is not usable: a device key has at least 16/);
  // a board without remote takes no commands: said before anything is sent
  const plain = await standIn({ remote: false });
  const n = plain.commands.length;
  await rejects((await open(plain.info.id)).getConfig(), "not-remote", /takes no commands: its config has no `remote`/);
  assert.equal(plain.commands.length, n);
});

test("a board that does not answer: timeout naming the command and the board's status", async () => {
  const b = await standIn();
  await b.status("online");
  b.onCommand = () => undefined;
  const r = await open(b.info.id, KEY, { replyTimeout: 700 });
  await rejects(r.getConfig(), "timeout", /no reply from dev-\d+ to config_get within 1 s \(status online\)/);
});

test("config push: host validation first, refusal with the board's errors, too large, success, rollback, timeout", async () => {
  const b = await standIn({ board: "wemos-d1-mini" });
  let running: any = { ...CFG, limits: { max_packet: 1024 } };
  let after: ((c: any) => void) | undefined;
  b.onCommand = (c) => {
    if (c.op == "config_get") return { ok: true, config: running };
    if (c.op != "config_set") return { ok: false, err: ["unknown op"] };
    setTimeout(() => after?.(c), 50);
    return { ok: true };
  };
  const r = await open(b.info.id);
  const sent = () => b.commands.filter((c) => c.cmd?.op == "config_set").length;
  // invalid for the board's type (wemos-d1-mini: no TLS, A0 the only ADC): nothing sent
  await rejects(r.pushConfig({ ...CFG, mqtt: { host: "h", tls: true }, sensors: [{ name: "l", type: "analog", pin: "D4" }] }, { allowNoRemote: true }),
    "invalid", /not valid for wemos-d1-mini: nothing was sent/, ["mqtt.tls: wemos-d1-mini has no TLS", "sensors[0].pin: D4 has no ADC on wemos-d1-mini"]);
  await rejects(r.pushConfig(CFG), "invalid", /has no `remote`: the board would take no more commands/);
  assert.equal(sent(), 0);
  // larger than the board takes (its running limits.max_packet)
  await rejects(r.pushConfig({ ...CFG, sensors: Array.from({ length: 30 }, (_, i) => ({ name: "s" + i, type: "uptime" })) }, { allowNoRemote: true }),
    "too-large", /config_set would be a \d+-byte packet but the board takes at most 1024 \(limits\.max_packet\): nothing was sent/);
  assert.equal(sent(), 0);
  // the board's validator refuses: its list
  after = undefined;
  b.onCommand = (c) => c.op == "config_get" ? { ok: true, config: running } : { ok: false, err: ["sensors[0].pin: D9 is not a pin of wemos-d1-mini", "base: must not contain + or #"] };
  await rejects(r.pushConfig({ ...CFG, base: "ok" }, { allowNoRemote: true }), "refused",
    /refused config_set: sensors\[0\]\.pin: D9 is not a pin of wemos-d1-mini; base: must not contain \+ or #/,
    ["sensors[0].pin: D9 is not a pin of wemos-d1-mini", "base: must not contain + or #"]);
  // accepted: offline, then info boot "config" with the hash of what was sent
  b.onCommand = (c) => { if (c.op == "config_get") return { ok: true, config: running }; setTimeout(() => after?.(c), 50); return { ok: true }; };
  const next = { ...CFG, mqtt: { ...CFG.mqtt, keep_alive: 30 } };
  after = async (c) => {
    await b.status("offline");
    running = c.config;
    await b.publishInfo({ boot: "config", cfg: crypto.createHash("sha256").update(JSON.stringify(c.config)).digest("hex") });
    await b.status("online");
  };
  const states: string[] = [];
  const ok = await r.pushConfig(next, { allowNoRemote: true, onState: (s) => states.push(s) });
  assert.equal(ok.info.boot, "config");
  assert.equal(ok.info.cfg, hashHex("sha256", JSON.stringify(next)));
  assert.ok(ok.hashChecked);
  assert.deepEqual(states, ["validated", "sent", "accepted", "restarting", "online", "done"]);
  // masked secrets: the board fills them in, so the hash cannot be known here; boot "config" is enough
  after = (c) => void b.publishInfo({ boot: "config", cfg: "f".repeat(64), n: c.n });
  const masked = await r.pushConfig({ ...next, wifi: { ssid: "net", password: "***" } }, { allowNoRemote: true });
  assert.equal(masked.hashChecked, false);
  // a board restarted on another config than the one sent
  after = () => void b.publishInfo({ boot: "config", cfg: "e".repeat(64) });
  await rejects(r.pushConfig(next, { allowNoRemote: true }), "mismatch", /restarted on a config whose hash e{64} is not that of the one sent/);
  // rollback: the board could not reach the broker with it and went back
  after = () => void b.publishInfo({ boot: "rollback", why: "config: not online within 30 s", cfg: "c".repeat(64) });
  await rejects(r.pushConfig(next, { allowNoRemote: true }), "rollback", /went back to its previous config: config: not online within 30 s/,
    ["config: not online within 30 s"]);
  // accepted, then nothing
  after = undefined;
  await rejects(r.pushConfig(next, { allowNoRemote: true, timeout: 800 }), "timeout", /did not come back on the new config within 1 s \(status online; last info: boot rollback/);
});

test("ota: paced by acks within the window, a lost chunk sent again, a silent board asked where it is, resumed", async () => {
  const b = await standIn();
  b.image.chunk = 300;
  b.image.window = 3;
  b.onCommand = (c) => c.op == "ota_begin" ? b.otaBegin() : { ok: true };
  b.dropOnce.add(3000);
  const image = crypto.randomBytes(20000);
  let maxAhead = 0;
  b.client.on("message", (t) => {
    if (t.includes("/ota/") && !t.endsWith("/ack")) maxAhead = Math.max(maxAhead, Number(t.split("/").at(-1)) - b.image.next);
  });
  // 8000 bytes in, the board goes silent for a while (a dropped connection) and drops what came meanwhile
  const progress: number[] = [];
  const r = await open(b.info.id);
  let deafened = false, beginsBeforeSilence = 0;
  b.onImage = (data) => {
    void b.reply({ op: "ota_end", ok: true }).then(() => b.status("offline"))
      .then(() => b.publishInfo({ hash: hashHex("sha256", data), boot: "ota", fw: "0.2.0" })).then(() => b.status("online"));
  };
  const states: string[] = [];
  const res = await r.ota(image, {
    version: "0.2.0", stall: 400,
    onState: (s) => states.push(s),
    onProgress: (bytes, total, rate, eta) => {
      assert.equal(total, image.length);
      assert.ok(rate >= 0 && eta >= 0);
      progress.push(bytes);
      if (bytes >= 8000 && !deafened) {
        deafened = true; b.deaf = true; setTimeout(() => { b.deaf = false; }, 600);
        beginsBeforeSilence = b.commands.filter((c) => c.cmd.op == "ota_begin").length;
      }
    },
  });
  assert.ok(b.image.data.equals(image), "the board got the image byte for byte");
  assert.equal(res.info.hash, hashHex("sha256", image));
  assert.equal(res.alreadyRunning, false);
  assert.equal(res.resumedFrom, 0);
  assert.equal(res.bytes, 20000);
  assert.ok(res.rate > 0);
  assert.deepEqual(progress, [...progress].sort((x, y) => x - y), "progress only goes forward");
  assert.equal(progress.at(-1), 20000);
  assert.ok(maxAhead <= 3 * 300, `never more than the window ahead of the board (${maxAhead})`);
  assert.ok(states.includes("resume"), states.join(","));
  for (const s of ["begin", "resume", "transfer", "checked", "online"]) assert.ok(states.includes(s), `${s} in ${states}`);
  assert.equal(states.at(-1), "done");
  const begins = b.commands.filter((c) => c.cmd.op == "ota_begin");
  assert.equal(beginsBeforeSilence, 1, "the chunk lost at 3000 was sent again on the repeated ack, without asking");
  assert.ok(begins.length >= 2, "asked again after the silence");
  assert.deepEqual(begins[0].cmd, { n: begins[0].cmd.n, op: "ota_begin", size: 20000, hash: hashHex("sha256", image), version: "0.2.0" });
  // the same image again: nothing to do
  assert.equal((await r.ota(image)).alreadyRunning, true);
});

test("ota: resumes a transfer the board already has in part", async () => {
  const b = await standIn();
  const image = crypto.randomBytes(6000);
  b.image = { ...b.image, size: 6000, hash: hashHex("sha256", image), next: 2560, data: image.subarray(0, 2560) };
  b.onCommand = (c) => c.op == "ota_begin" ? b.otaBegin() : { ok: true };
  b.onImage = (data) => void b.publishInfo({ hash: hashHex("sha256", data), boot: "ota" });
  const first = b.chunksSeen;
  const res = await (await open(b.info.id)).ota(image);
  assert.equal(res.resumedFrom, 2560);
  assert.equal(res.bytes, 6000 - 2560);
  assert.ok(b.image.data.equals(image));
  assert.equal(b.chunksSeen - first, Math.ceil((6000 - 2560) / 256), "only the missing part was sent");
});

test("ota: no room (the figures), a bad image, a rollback, a board that never comes back", async () => {
  const b = await standIn();
  const r = await open(b.info.id);
  b.onCommand = () => ({ ok: false, err: ["needs 30000 bytes of Storage, 21000 free"] });
  await rejects(r.ota(Buffer.alloc(30000, 1)), "refused", /refused ota_begin: needs 30000 bytes of Storage, 21000 free/, ["needs 30000 bytes of Storage, 21000 free"]);
  b.onCommand = (c) => c.op == "ota_begin" ? b.otaBegin() : { ok: true };
  b.onImage = () => void b.reply({ op: "ota_end", ok: false, err: ["hash mismatch"] });
  await rejects(r.ota(Buffer.alloc(1000, 2)), "refused", /the board rejected the image: hash mismatch/, ["hash mismatch"]);
  b.onImage = () => void b.publishInfo({ boot: "rollback", why: "the new bundle threw at boot: ReferenceError" });
  await rejects(r.ota(Buffer.alloc(1000, 3)), "rollback", /rolled back to its previous bundle: the new bundle threw at boot: ReferenceError/,
    ["the new bundle threw at boot: ReferenceError"]);
  b.onImage = () => void b.reply({ op: "ota_end", ok: true });
  await rejects(r.ota(Buffer.alloc(1000, 4), { timeout: 700 }), "timeout", /did not come back on the new bundle within 1 s .*it had checked the image/);
});

test("restart, and the info/status events a monitor follows", async () => {
  const b = await standIn();
  await b.status("online");
  const r = await open(b.info.id);
  assert.equal(r.status(), "online");
  const seen: string[] = [];
  r.on("status", (s: string) => seen.push("status " + s));
  r.on("info", (i: any, retained: boolean) => seen.push(`info ${i.boot} ${retained}`));
  b.onCommand = (c) => {
    if (c.op != "restart") return { ok: false, err: ["unknown op"] };
    setTimeout(() => void b.status("offline").then(() => b.publishInfo({ boot: "restart" })).then(() => b.status("online")), 50);
    return { ok: true };
  };
  const info = await r.restart(3000);
  assert.equal(info.boot, "restart");
  await new Promise((res) => setTimeout(res, 200));
  assert.deepEqual(seen, ["status offline", "info restart false", "status online"]);
  assert.equal(r.info().boot, "restart");
  await r.close();
  await rejects(r.getConfig(), "closed", /closed/);
});
