// Remote management, identity and config (mote-info, mote-remote, mote-remote-cfg, the boot guard) in the
// simulator against Mosquitto: <base>/info from every board, signed commands (forged, replayed, stale
// refused), config_get with secrets masked, config_set accepted / refused / rolled back.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { SimBoard } from "../../src/host/index.js";
import { startMosquitto, type MosquittoInstance } from "../support/mosquitto.js";
import { hashHex, hmacHex, signCommand } from "../../src/tools/mote/protocol.js";
import { Host, KEY, flash, flashFiles, fw, algOf, sleep } from "./remote-rig.js";

let broker: MosquittoInstance;
const boards: SimBoard[] = [];
const hosts: Host[] = [];
let seq = 0;

before(async () => { broker = await startMosquitto({ passwordFile: { dev: "devpw", host: "hostpw" } }); });
after(async () => {
  for (const b of boards) b.close();
  for (const h of hosts) await h.close();
  await broker?.stop();
});

const url = () => `mqtt://host:hostpw@127.0.0.1:${broker.port}`;

/** A flashed, booted board with remote management, and a host watching it. */
async function device(extra: any = {}, opts: { board?: string; remote?: any } = {}) {
  const id = opts.board ?? "esp32-devkitc";
  const base = `r/${++seq}`;
  const cfg = {
    wifi: { ssid: "mote-sim", password: "wifi-secret" },
    mqtt: { host: "127.0.0.1", port: broker.port, keep_alive: 5, username: "dev", password: "devpw", client_id: `rc-${seq}` },
    base, remote: opts.remote ?? { key: KEY, confirm: 3 }, ...extra,
  };
  const board = new SimBoard({ board: id, serial: `remote-${seq}` });
  boards.push(board);
  const host = await Host.open(url(), base, algOf(board));
  hosts.push(host);
  flash(board, flashFiles(id, cfg));
  board.boot();
  const info = await host.info();
  return { board, host, base, cfg, info };
}

test("info: every board says what it runs, retained; the key is never published", async () => {
  const { board, host, cfg, info } = await device();
  assert.equal(info.alg, "sha256");
  assert.equal(info.hash, hashHex("sha256", Buffer.from(fw("mote"), "latin1")));
  assert.equal(info.cfg, hashHex("sha256", JSON.stringify(cfg)));
  assert.equal(info.fw, "0.1.0");
  assert.equal(info.board, "esp32-devkitc");
  assert.equal(info.id, cfg.mqtt.client_id);
  assert.equal(info.boot, "power");
  assert.equal(info.remote, true);
  assert.equal(info.n, 0);
  assert.ok(info.free > 0 && info.free < board.storage.size, `free ${info.free}`);
  // retained: a late subscriber gets it
  const late = await Host.open(url(), host.base, "sha256");
  hosts.push(late);
  await late.until(() => late.infos().length > 0, "retained info");
  assert.equal(late.on("info")[0].retain, true);
  // the mote-info module was let go after publishing
  assert.ok(!board.json("Modules.getCached()").includes("mote-info"), "mote-info released");
  assert.ok(!host.seen.some((m) => m.text.includes(KEY)), "the key never went out");
  assert.deepEqual(board.errors, []);
});

test("info on an ESP8266: SHA-1 (its build has no SHA-256), and from a board without remote", async () => {
  const { host, info } = await device({ remote: undefined }, { board: "wemos-d1-mini" });
  assert.equal(info.alg, "sha1");
  assert.equal(info.hash, hashHex("sha1", Buffer.from(fw("mote"), "latin1")));
  assert.equal(info.remote, false);
  assert.equal(info.board, "wemos-d1-mini");
  void host;
});

test("forged, replayed, stale and malformed commands are refused with a reply and a line on <base>/error", async () => {
  const { board, host, base } = await device();
  const get = await host.cmd("config_get");
  assert.equal(get.ok, true);
  // replay: the very same bytes again
  const n = get.n as number;
  const signed = signCommand("sha256", KEY, { n, op: "config_get" });
  await host.publishCmd(signed);
  await host.until(() => host.replies().some((r) => r.n == n && r.ok === false), "replay refused");
  assert.match(host.replies().find((r) => r.n == n && !r.ok)!.err![0], /stale counter/);
  // forged: signed with another key
  const forged = { n: n + 10, op: "config_get" };
  await host.publishCmd(signCommand("sha256", "not-the-key-of-this-board", forged));
  await host.until(() => host.replies().some((r) => r.n == forged.n), "forged refused");
  const fr = host.replies().find((r) => r.n == forged.n)!;
  assert.equal(fr.ok, false);
  assert.deepEqual(fr.err, ["bad mac"]);
  assert.equal(fr.op, "config_get");
  assert.ok(!("config" in fr), "nothing of the config in a refusal");
  // tampered: a good mac over other bytes
  const good = signCommand("sha256", KEY, { n: n + 20, op: "config_get" }).toString("latin1");
  await host.publishCmd(good.replace(String(n + 20), String(n + 21)));
  await host.until(() => host.replies().some((r) => r.n == n + 21), "tampered refused");
  // no space, no JSON
  await host.publishCmd("garbage");
  await host.until(() => host.replies().filter((r) => !r.ok).length >= 4, "garbage refused");
  // a mac that is right over JSON that is not an object
  const j = "[1,2]";
  await host.publishCmd(hmacHex("sha256", KEY, j) + " " + j);
  await host.until(() => host.replies().some((r) => (r.err || [])[0] == "not a JSON object"), "non-object refused");
  const errs = host.on("error").map((m) => m.text).filter((t) => t.startsWith("remote: refused"));
  assert.equal(errs.length, 5, errs.join("\n"));
  assert.equal(host.on("error").filter((m) => m.text.startsWith("remote")).every((m) => !m.retain), true);
  // the counter survives a restart: the old command is still refused after it
  const r = await host.cmd("restart");
  assert.equal(r.ok, true);
  const info = await host.info((i) => i.boot == "restart");
  assert.equal(info.n, r.n);
  await host.publishCmd(signed);
  await sleep(300);
  assert.equal(host.replies().filter((x) => x.n == n && !x.ok).length, 2, "replayed after the restart: refused again");
  assert.ok(board.reboots >= 1);
  void base;
});

test("config_get masks every secret; config_set refused lists the validator's errors and changes nothing", async () => {
  const { board, host, cfg } = await device();
  const get = await host.cmd("config_get");
  const c = get.config as any;
  assert.equal(c.wifi.password, "***");
  assert.equal(c.mqtt.password, "***");
  assert.equal(c.remote.key, "***");
  assert.equal(c.mqtt.username, "dev");
  assert.equal(c.base, cfg.base);
  const before = board.storage.read("mote.json");
  const bad = { ...c, sensors: [{ name: "level", type: "analog", pin: "D2" }, { name: "x", type: "laser" }], limits: { inflight: 50 } };
  const r = await host.cmd("config_set", { config: bad });
  assert.equal(r.ok, false);
  assert.equal(r.err!.length, 3, r.err!.join("\n"));
  assert.ok(r.err!.some((e) => e.startsWith("sensors[0].pin: D2 has no ADC")), r.err!.join("\n"));
  assert.ok(r.err!.some((e) => e.startsWith("sensors[1].type: unknown type laser")), r.err!.join("\n"));
  assert.ok(r.err!.some((e) => e.startsWith("limits.inflight:")), r.err!.join("\n"));
  // a too short key is refused as well
  const r2 = await host.cmd("config_set", { config: { ...c, remote: { key: "short" } } });
  assert.deepEqual(r2.err, ["remote.key: must be 16..256 characters"]);
  await sleep(300);
  // said on <base>/error as every refused command is, with the validator's errors
  assert.deepEqual(host.on("error").map((m) => m.text).filter((t) => t.startsWith("remote: refused config_set")),
    ["remote: refused config_set: " + r.err!.join("; "), "remote: refused config_set: remote.key: must be 16..256 characters"]);
  assert.equal(board.storage.read("mote.json"), before, "mote.json untouched");
  assert.equal(board.reboots, 0, "no restart");
  assert.equal(host.infos().length, 1);
  // and it still works
  assert.equal((await host.cmd("config_get")).ok, true);
});

test("config_set accepted: written, restarted on it (boot config), secrets given as *** kept", async () => {
  const { board, host } = await device({ sensors: [{ name: "up", type: "uptime", every: 0.2 }] });
  const c = (await host.cmd("config_get")).config as any;
  c.sensors = [{ name: "mem", type: "memory", every: 0.2 }];
  const r = await host.cmd("config_set", { config: c });
  assert.equal(r.ok, true);
  const info = await host.info((i) => i.boot == "config");
  const stored = JSON.parse(board.storage.read("mote.json")!);
  assert.equal(stored.wifi.password, "wifi-secret");
  assert.equal(stored.mqtt.password, "devpw");
  assert.equal(stored.remote.key, KEY);
  assert.deepEqual(stored.sensors, c.sensors);
  assert.equal(info.cfg, hashHex("sha256", board.storage.read("mote.json")!));
  await host.until(() => host.on("mem").length > 0, "the new sensor");
  // confirmed: a power cycle later it is a plain power-on on the new config
  board.powerCut();
  const k = host.infos().length;
  board.powerOn();
  const again = await host.info(() => true, k);
  assert.equal(again.boot, "power");
  assert.equal(again.cfg, info.cfg);
});

for (const [what, change, why] of [
  ["unreachable broker", (c: any) => { c.mqtt.port = 1; }, "not online"],
  ["wrong credentials", (c: any) => { c.mqtt.password = "wrong"; }, "not online"],
] as const) {
  test(`config_set rolled back: ${what} -> the previous config, and the board says so`, async () => {
    const { board, host, info } = await device();
    const c = (await host.cmd("config_get")).config as any;
    change(c);
    const t0 = Date.now();
    const r = await host.cmd("config_set", { config: c });
    assert.equal(r.ok, true);
    const back = await host.info((i) => i.boot == "rollback", 0, 15000);
    const took = Date.now() - t0;
    assert.match(back.why!, new RegExp(why));
    assert.equal(back.cfg, info.cfg, "the previous config again");
    assert.ok(took >= 2500, `waited the confirm time (3 s): ${took} ms`);
    assert.ok(board.reboots >= 2, `restarted on the new config and back: ${board.reboots}`);
    // and it takes commands again
    assert.equal((await host.cmd("config_get")).ok, true);
  });
}
