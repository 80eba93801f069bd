// `npx mote config` / `npx mote ota` (bin/mote.js) as child processes: argument parsing, messages and
// exit codes (0 done, 1 failed, 2 usage, 3 refused, 4 rolled back, 5 timeout), against real Mosquitto
// and the stand-in board (stand-in.ts); the real board is in e2e.test.ts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { execFile } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startMosquitto, type MosquittoInstance } from "../../support/mosquitto.js";
import { ROOT } from "../../../src/tools/config-check.js";
import { parseArgs, brokerOf } from "../../../src/tools/mote/options.js";
import { hashHex } from "../../../src/tools/mote/protocol.js";
import { StandIn } from "./stand-in.js";
import { requireBoardSide } from "./board-side.js";

const KEY = "cli-test-key-0123456789";
let broker: MosquittoInstance, dir: string, seq = 0;
const boards: StandIn[] = [];
before(async () => {
  broker = await startMosquitto();
  dir = mkdtempSync(join(tmpdir(), "mote-cli-"));
});
after(async () => {
  for (const b of boards) await b.stop().catch(() => {});
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function mote(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; out: string; err: string }>((resolve) => {
    execFile(process.execPath, [join(ROOT, "bin/mote.js"), ...args], { env: { ...process.env, XDG_CONFIG_HOME: join(dir, "xdg"), ...env }, timeout: 60000 },
      (e, out, err) => resolve({ code: e ? (typeof e.code == "number" ? e.code : -1) : 0, out, err }));
  });
}
async function standIn(info: Record<string, unknown> = {}) {
  seq++;
  const b = await new StandIn(`cli/${seq}`, { id: `cli-dev-${seq}`, ...info } as any, KEY).start(broker.url);
  await b.status("online");
  boards.push(b);
  return b;
}
const common = (b: StandIn) => ["--broker", broker.url, "--device", b.info.id, "--key", KEY];
const CFG = { wifi: { ssid: "net" }, mqtt: { host: "10.0.0.2", client_id: "x" }, base: "b/c" };
function file(name: string, content: unknown) {
  const f = join(dir, name);
  writeFileSync(f, typeof content == "string" ? content : JSON.stringify(content));
  return f;
}

test("options: broker URL with credentials, flags win, bad URLs; --name=value; missing values", () => {
  assert.deepEqual(brokerOf({ broker: "mqtts://u%40x:p%3Aw@h.example:8883" }), { url: "mqtts://h.example:8883", username: "u@x", password: "p:w" });
  assert.deepEqual(brokerOf({ broker: "mqtt://u:p@h", username: "v", password: "q" }), { url: "mqtt://h", username: "v", password: "q" });
  assert.throws(() => brokerOf({ broker: "http://h" }), /--broker: http: is not mqtt: or mqtts:/);
  assert.throws(() => brokerOf({ broker: "h:1883" }), /is not mqtt: or mqtts:|not a URL/);
  assert.throws(() => brokerOf({}), /--broker URL is required/);
  assert.deepEqual(parseArgs(["push", "--device=a=b", "f.json", "--drop-remote"], ["device"]),
    { flags: { device: "a=b", "drop-remote": true }, rest: ["push", "f.json"] });
  assert.throws(() => parseArgs(["--device", "--key", "k"], ["device", "key"]), /--device needs a value/);
});

test("usage errors exit 2 with the reason and the usage; --help exits 0", async () => {
  let r = await mote([]);
  assert.equal(r.code, 2);
  assert.match(r.out, /usage: mote <command>/);
  r = await mote(["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.out, /config +config get \| config push FILE/);
  assert.match(r.out, /ota +ota \[--bundle firmware\/mote\.js\]/);
  r = await mote(["config", "--help"]);
  assert.equal(r.code, 0);
  assert.match(r.out, /exit codes: 0 done, 1 failed .* 2 usage, 3 refused .*\n\s+4 rolled back by the board, 5 timeout/);
  const cases: [string[], RegExp][] = [
    [["config"], /^mote config: get or push\?\n\nusage: mote config get/],
    [["config", "set"], /^mote config: unknown action "set"/],
    [["config", "push"], /^mote config: config push takes one FILE/],
    [["config", "get", "--broker", "mqtt://h"], /^mote config: --device CLIENT_ID is required/],
    [["config", "get", "--device", "d"], /^mote config: --broker URL is required/],
    [["config", "get", "--broker", "ws://h", "--device", "d"], /^mote config: --broker: ws: is not mqtt: or mqtts:/],
    [["config", "get", "--broker", "mqtt://h", "--device", "d", "--key", "short"], /^mote config: --key: a device key has at least 16 characters \(this one has 5\)/],
    [["config", "get", "--broker", "mqtt://h", "--device", "d", "--key", KEY, "--key-file", "f"], /^mote config: give --key or --key-file, not both/],
    [["config", "get", "--broker", "mqtt://h", "--device", "d", "--timeout", "soon"], /^mote config: --timeout takes a number of seconds > 0/],
    [["ota", "--broker", "mqtt://h", "--device", "d", "--bogus"], /^mote ota: unknown option --bogus/],
    [["ota", "now", "--broker", "mqtt://h", "--device", "d"], /^mote ota: unexpected "now"/],
    [["ota", "--broker"], /^mote ota: --broker needs a value/],
  ];
  for (const [args, want] of cases) {
    r = await mote(args);
    assert.equal(r.code, 2, args.join(" ") + "\n" + r.err);
    assert.match(r.err, want);
  }
  // not usage: a file that cannot be read or is not JSON, a broker that is not there
  r = await mote(["config", "push", join(dir, "none.json"), "--broker", broker.url, "--device", "d"]);
  assert.equal(r.code, 1);
  assert.match(r.err, /^mote config: cannot read .*none\.json: ENOENT\n$/);
  r = await mote(["config", "push", file("bad.json", "{nope"), "--broker", broker.url, "--device", "d"]);
  assert.equal(r.code, 1);
  assert.match(r.err, /bad\.json is not valid JSON/);
  r = await mote(["ota", "--bundle", join(dir, "none.js"), "--broker", broker.url, "--device", "d"]);
  assert.equal(r.code, 1);
  assert.match(r.err, /^mote ota: cannot read the bundle .*none\.js: ENOENT\n$/);
  r = await mote(["config", "get", "--broker", "mqtt://127.0.0.1:1", "--device", "d", "--key", KEY]);
  assert.equal(r.code, 1);
  assert.match(r.err, /^mote config: cannot connect to mqtt:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/);
});

test("config get: the running config on stdout; key from --key-file or the key store; wrong key exits 3; no such board 1", async () => {
  const b = await standIn();
  b.onCommand = (c) => c.op == "config_get" ? { ok: true, config: { ...CFG, remote: { key: "***", confirm: 60 } } } : undefined;
  let r = await mote(["config", "get", ...common(b)]);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), { ...CFG, remote: { key: "***", confirm: 60 } });
  r = await mote(["config", "get", "--broker", broker.url, "--device", b.info.id, "--key-file", file("k", KEY + "\n")]);
  assert.equal(r.code, 0, r.err);
  // the key store (as flash.sh leaves it)
  r = await mote(["config", "get", "--broker", broker.url, "--device", b.info.id]);
  assert.equal(r.code, 1);
  assert.match(r.err, /no device key for cli-dev-\d+: give --key or --key-file, or flash the board with flash\.sh --remote/);
  const xdg = join(dir, "xdg-store");
  const keys = join(xdg, "mote/keys");
  mkdirSync(keys, { recursive: true });
  writeFileSync(join(keys, b.info.id + ".key"), KEY + "\n", { mode: 0o600 });
  r = await mote(["config", "get", "--broker", broker.url, "--device", b.info.id], { XDG_CONFIG_HOME: xdg });
  assert.equal(r.code, 0, r.err);
  r = await mote(["config", "get", "--broker", broker.url, "--device", b.info.id, "--key", "not-the-key-0123456789"]);
  assert.equal(r.code, 3);
  assert.equal(r.err, `mote config: ${b.info.id} refused config_get: bad mac: command refused (is the device key right? it came from --key)\n  bad mac: command refused\n`);
  r = await mote(["config", "get", "--broker", broker.url, "--device", "no-such-board", "--key", KEY]);
  assert.equal(r.code, 1);
  assert.match(r.err, new RegExp(`^mote config: no board with client id "no-such-board" on ${broker.url}: boards there: .*${b.info.id}`));
  const plain = await standIn({ remote: false });
  r = await mote(["config", "get", ...common(plain)]);
  assert.equal(r.code, 1);
  assert.match(r.err, /takes no commands: its config has no `remote` \(flash it with flash\.sh --remote\)/);
});

test("config push: exit 0 once the board runs it, 3 with the host's or the board's errors, 4 on rollback, 5 on timeout", async () => {
  const b = await standIn();
  let outcome: (c: any) => void = () => {};
  b.onCommand = (c) => {
    if (c.op == "config_get") return { ok: true, config: { ...CFG, remote: { key: "***", confirm: 5 } } };
    if (c.config.base == "refuse/me") return { ok: false, err: ["actuators[0].pin: D3 is input-only on esp32-devkitc", "mqtt.port: must be 1..65535"] };
    setTimeout(() => outcome(c), 50);
    return { ok: true };
  };
  const good = file("good.json", CFG);
  outcome = (c) => void b.status("offline").then(() => b.publishInfo({ boot: "config", cfg: hashHex("sha256", JSON.stringify(c.config)) }));
  let r = await mote(["config", "push", good, ...common(b), "--drop-remote"]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /the board accepted it and restarts on it \(rollback after 5 s without a connection\)\n/);
  assert.match(r.err, /mote config: done: cli-dev-\d+ runs the new config \(sha256 [0-9a-f]{64}\) after \d+\.\d s\n$/);
  // without remote and without --drop-remote: refused on the host
  r = await mote(["config", "push", good, ...common(b)]);
  assert.equal(r.code, 3);
  assert.match(r.err, /the config has no `remote`: the board would take no more commands/);
  r = await mote(["config", "push", file("invalid.json", { ...CFG, sensors: [{ name: "x", type: "analog", pin: "D99" }], extra: 1 }), ...common(b), "--drop-remote"]);
  assert.equal(r.code, 3);
  assert.match(r.err, /^mote config: pushing .*invalid\.json to cli-dev-\d+ \(esp32-devkitc, base cli\/\d+\)\n/);
  assert.ok(r.err.endsWith("mote config: the config is not valid for esp32-devkitc: nothing was sent\n  extra: unknown key\n" +
    "  sensors[0].pin: D99 is not a pin of esp32-devkitc\n"), r.err);
  r = await mote(["config", "push", file("refused.json", { ...CFG, base: "refuse/me" }), ...common(b), "--drop-remote"]);
  assert.equal(r.code, 3);
  assert.match(r.err, /refused config_set: actuators\[0\]\.pin: D3 is input-only on esp32-devkitc; mqtt\.port: must be 1\.\.65535\n  actuators\[0\]\.pin: D3 is input-only on esp32-devkitc\n  mqtt\.port: must be 1\.\.65535\n$/);
  outcome = () => void b.publishInfo({ boot: "rollback", why: "config: not online within 5 s (connect: ECONNREFUSED)" });
  r = await mote(["config", "push", good, ...common(b), "--drop-remote"]);
  assert.equal(r.code, 4);
  assert.match(r.err, /mote config: the board went back to its previous config: config: not online within 5 s \(connect: ECONNREFUSED\)\n  config: not online/);
  outcome = () => {};
  r = await mote(["config", "push", good, ...common(b), "--drop-remote", "--timeout", "1"]);
  assert.equal(r.code, 5);
  assert.match(r.err, /mote config: the board did not come back on the new config within 1 s/);
});

test("config push with a new remote.key: the key store gets the new key once the board runs it", async (t) => {
  if (!requireBoardSide(t, { module: false })) return;
  const b = await standIn();
  b.onCommand = (c) => {
    if (c.op == "config_get") return { ok: true, config: { ...CFG, remote: { key: "***", confirm: 5 } } };
    setTimeout(() => void b.publishInfo({ boot: "config", cfg: hashHex("sha256", JSON.stringify(c.config)) }), 50);
    return { ok: true };
  };
  const newKey = crypto.randomBytes(24).toString("base64url"), xdg = join(dir, "xdg-push");
  const r = await mote(["config", "push", file("rekey.json", { ...CFG, mqtt: { host: "h", client_id: b.info.id }, remote: { key: newKey, confirm: 30 } }),
    ...common(b)], { XDG_CONFIG_HOME: xdg });
  assert.equal(r.code, 0, r.err);
  const kept = join(xdg, "mote/keys", b.info.id + ".key");
  assert.match(r.err, new RegExp(`mote config: device key for ${b.info.id} kept in ${kept}\n$`));
  assert.equal(readFileSync(kept, "utf8"), newKey + "\n");
});

test("ota: progress, exit 0 when the board runs the new hash; 3 when refused; 4 on rollback", async () => {
  const b = await standIn();
  b.image.chunk = 512;
  b.onCommand = (c) => c.op == "ota_begin" ? (c.size > 100000 ? { ok: false, err: [`needs ${c.size} bytes, 90000 free`] } : b.otaBegin()) : { ok: true };
  let onImage = (data: Buffer) => void b.reply({ op: "ota_end", ok: true }).then(() => b.publishInfo({ hash: hashHex("sha256", data), boot: "ota", fw: "0.2.0" }));
  b.onImage = (d) => onImage(d);
  const bundle = file("new.js", crypto.randomBytes(16000).toString("base64"));
  let r = await mote(["ota", "--bundle", bundle, "--version", "0.2.0", ...common(b)]);
  assert.equal(r.code, 0, r.err);
  assert.ok(b.image.data.equals(readFileSync(bundle)));
  assert.match(r.err, new RegExp(`mote ota: .*new\\.js \\(${readFileSync(bundle).length} bytes, version 0\\.2\\.0\\) to cli-dev-\\d+ \\(esp32-devkitc, running 0\\.1\\.0 000000000000\\.\\.\\., 500000 bytes of Storage free\\)`));
  // the progress bar (not a terminal here: plain lines) shows bytes, rate and ETA
  assert.match(r.err, / 100% \| 21336\/21336 bytes \| \d+\.\d KB\/s \| ETA 0s\n/);
  assert.match(r.err, /mote ota: done: cli-dev-\d+ runs [0-9a-f]{64} \(boot ota\); 21336 bytes in \d+\.\d s, \d+ bytes\/s\n$/);
  r = await mote(["ota", "--bundle", bundle, ...common(b)]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /the board already runs this bundle/);
  r = await mote(["ota", "--bundle", file("huge.js", "x".repeat(200000)), ...common(b)]);
  assert.equal(r.code, 3);
  assert.match(r.err, /refused ota_begin: needs 200000 bytes, 90000 free\n  needs 200000 bytes, 90000 free\n$/);
  onImage = () => void b.reply({ op: "ota_end", ok: true }).then(() => b.publishInfo({ boot: "rollback", why: "not online within 60 s" }));
  r = await mote(["ota", "--bundle", file("other.js", "print(1)"), ...common(b)]);
  assert.equal(r.code, 4);
  assert.match(r.err, /mote ota: the board rolled back to its previous bundle: not online within 60 s\n/);
});
