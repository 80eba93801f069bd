// `mote config` and `mote ota` end to end: the real board bundles (firmware/mote.js and its feature
// modules, mote-remote among them) in the host simulator, real Mosquitto, the CLI as a child process
// finding the device key where flash.sh keeps it. Needs the board side of remote management
// (firmware/mote-remote.js): without it every test here fails under CI with a message saying so
// (requireBoardSide), and is skipped with that message elsewhere.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SimBoard } from "../../../src/host/index.js";
import { freePort, waitFor } from "../../support/util.js";
import { ROOT } from "../../../src/tools/config-check.js";
import { hashHex } from "../../../src/tools/mote/protocol.js";
import { requireBoardSide } from "./board-side.js";
import { cliSuite } from "./cli-rig.js";

const FIRMWARE = join(ROOT, "firmware/mote.js");
const CONFIRM = 5; // seconds a board on a new config or bundle has to get online before it goes back
const suite = cliSuite("e2e", CONFIRM), { mote, flashedBoard, infos } = suite;
const runningConfig = (b: SimBoard) => JSON.parse(b.storage.readText("mote.json") as string);

test("config get: the running config, secrets as ***", { timeout: 60000 }, async (t) => {
  if (!requireBoardSide(t)) return;
  const { id, cfg } = await flashedBoard();
  const r = await mote(["config", "get", "--device", id]);
  assert.equal(r.code, 0, r.err);
  const got = JSON.parse(r.out);
  assert.equal(got.wifi.password, "***");
  assert.equal(got.remote.key, "***");
  assert.deepEqual({ ...got, wifi: cfg.wifi, remote: cfg.remote }, cfg);
  assert.ok(!r.out.includes(cfg.remote.key) && !r.out.includes("wifi-secret"), "no secret leaves the board");
});

test("config push: exit 0 once the board runs it (info cfg = hash of what was sent, boot config); a wrong key exits 3, board untouched",
  { timeout: 90000 }, async (t) => {
    if (!requireBoardSide(t)) return;
    const { board, id, cfg } = await flashedBoard();
    const next = { ...cfg, sensors: [{ name: "up", type: "uptime", every: 1 }] };
    const file = join(suite.dir, `push-${id}.json`);
    writeFileSync(file, JSON.stringify(next));
    let r = await mote(["config", "push", file, "--device", id, "--key", "wrong-key-0123456789abc"]);
    assert.equal(r.code, 3, r.err);
    // push reads the running config first (its remote.confirm and limits.max_packet), so a wrong key is
    // refused there, in the board's own words, and config_set is never sent
    assert.match(r.err, new RegExp(`\\nmote config: ${id} refused config_get: bad mac \\(is the device key right\\? it came from --key\\)\\n  bad mac\\n$`));
    assert.doesNotMatch(r.err, /config_set/);
    assert.deepEqual(runningConfig(board), cfg, "nothing written");
    r = await mote(["config", "push", file, "--device", id]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /mote config: done: e2e-\d+ runs the new config \(sha256 [0-9a-f]{64}\)/);
    assert.deepEqual(runningConfig(board), next);
    assert.equal(infos.get(cfg.base)?.cfg, hashHex("sha256", JSON.stringify(next)), "the board reports the hash of the config sent");
    assert.equal(infos.get(cfg.base)?.boot, "config");
    // masked secrets as config get gives them: the board keeps its own
    const got = await mote(["config", "get", "--device", id]);
    writeFileSync(file, got.out.replace('"every": 1', '"every": 2'));
    r = await mote(["config", "push", file, "--device", id]);
    assert.equal(r.code, 0, r.err);
    assert.equal(runningConfig(board).remote.key, cfg.remote.key);
    assert.equal(runningConfig(board).wifi.password, "wifi-secret");
    assert.equal(runningConfig(board).sensors[0].every, 2);
  });

test("config push: a broker the board cannot reach: it goes back by itself, exit 4 with its reason", { timeout: 90000 }, async (t) => {
  if (!requireBoardSide(t)) return;
  const { board, id, cfg } = await flashedBoard();
  const file = join(suite.dir, `unreachable-${id}.json`);
  writeFileSync(file, JSON.stringify({ ...cfg, mqtt: { ...cfg.mqtt, port: await freePort() } }));
  const r = await mote(["config", "push", file, "--device", id]);
  assert.equal(r.code, 4, r.err);
  assert.match(r.err, /mote config: the board went back to its previous config: \S/);
  assert.deepEqual(runningConfig(board), cfg);
});

test("ota: exit 0 once info names the new hash; the same bundle again is nothing to do; a bundle that throws at boot: exit 4",
  { timeout: 90000 }, async (t) => {
    if (!requireBoardSide(t)) return;
    const { id, base } = await flashedBoard();
    const bundle = join(suite.dir, `fw-${id}.js`);
    const code = readFileSync(FIRMWARE, "utf8") + `\n// e2e build ${id}\n`;
    writeFileSync(bundle, code);
    let r = await mote(["ota", "--device", id, "--bundle", bundle, "--version", "9.9.9"]);
    assert.equal(r.code, 0, r.err);
    const hash = hashHex("sha256", Buffer.from(code));
    assert.match(r.err, new RegExp(`mote ota: done: ${id} runs ${hash} \\(boot ota\\); ${Buffer.byteLength(code)} bytes in [\\d.]+ s, \\d+ bytes/s`));
    assert.match(r.err, / 100% \| (\d+)\/\1 bytes \| [\d.]+ KB\/s \| ETA 0s/);
    assert.equal(infos.get(base)?.hash, hash);
    // fw says what runs: the version built into the bundle (package.json's), not the label sent with it
    assert.equal(infos.get(base)?.fw, JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version);
    const rate = Number(/bytes in [\d.]+ s, (\d+) bytes\/s/.exec(r.err)?.[1]);
    t.diagnostic(`OTA of ${Buffer.byteLength(code)} bytes to the simulated ESP32 through Mosquitto: ${rate} bytes/s`);
    r = await mote(["ota", "--device", id, "--bundle", bundle]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /already runs this bundle/);
    // a bundle that throws at boot: the guard restores the one before
    const broken = join(suite.dir, `broken-${id}.js`);
    writeFileSync(broken, `throw new Error("e2e: this bundle is broken");\n`);
    r = await mote(["ota", "--device", id, "--bundle", broken]);
    assert.equal(r.code, 4, r.err);
    assert.match(r.err, /mote ota: the board rolled back to its previous bundle: \S/);
    await waitFor(() => infos.get(base)?.boot == "rollback", 5000, "info boot rollback");
    assert.equal(infos.get(base)?.hash, hash, "the board runs the bundle it had");
  });

test("a board that has gone: commands time out (exit 5) naming its status; an unknown board exits 1", { timeout: 60000 }, async (t) => {
  if (!requireBoardSide(t)) return;
  const { board, id } = await flashedBoard();
  board.close(); // the broker publishes its will: status offline; its info stays retained
  await new Promise((r) => setTimeout(r, 300));
  let r = await mote(["config", "get", "--device", id, "--timeout", "2"]);
  assert.equal(r.code, 5, r.err);
  assert.match(r.err, new RegExp(`no reply from ${id} to config_get within 2 s \\(status (offline|online)\\)`));
  r = await mote(["config", "get", "--device", "e2e-nobody"]);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /no board with client id "e2e-nobody"/);
});
