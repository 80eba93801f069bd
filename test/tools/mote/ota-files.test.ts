// `mote ota --user FILE`, `--remove-user`, and `mote ota` sending the changed feature modules with the
// bundle, end to end: the CLI as a child process, real Mosquitto, a simulated ESP32 flashed as
// flash.sh --remote does. Exit codes and messages for success, refusal and rollback.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "../../support/util.js";
import { ROOT } from "../../../src/tools/config-check.js";
import { hashHex } from "../../../src/tools/mote/protocol.js";
import { requireBoardSide } from "./board-side.js";
import { cliSuite } from "./cli-rig.js";

const CONFIRM = 3;
const suite = cliSuite("otaf", CONFIRM), { mote, flashedBoard, infos } = suite;
function file(name: string, text: string) {
  const f = join(suite.dir, name);
  writeFileSync(f, text);
  return f;
}
const said = (base: string, sub: string) => suite.seen.filter((m) => m.topic == base + "/" + sub).map((m) => m.text);

test("ota --user: exit 0 once the board runs the script; the same again is nothing to do; a script the board cannot get online with: exit 4, the previous one back; --remove-user",
  { timeout: 120000 }, async (t) => {
    if (!requireBoardSide(t)) return;
    const { board, id, base } = await flashedBoard();
    const v1 = file("v1.js", 'mote.publish("who", "script v1", { qos: 1 });\n');
    let r = await mote(["ota", "--device", id, "--user", v1]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, new RegExp(`mote ota: .*v1\\.js \\(\\d+ bytes\\) as mote-user\\.js to ${id} \\(esp32-devkitc, no script yet, \\d+ bytes of Storage free\\)`));
    assert.match(r.err, /mote ota: mote-user\.js: \d+ bytes\n/);
    assert.match(r.err, /mote ota: mote-script: \d+ bytes\n/, "its API goes with it: the board had none");
    assert.match(r.err, new RegExp(`mote ota: done: ${id} runs the new mote-user\\.js \\(boot ota\\)\\n$`));
    await waitFor(() => said(base, "who").includes("script v1"), 5000, "the script's publish");
    r = await mote(["ota", "--device", id, "--user", v1]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /already runs this mote-user\.js/);
    // a script that resets the board at every start: the guard goes back to v1
    r = await mote(["ota", "--device", id, "--user", file("bad.js", "E.reboot();\n")]);
    assert.equal(r.code, 4, r.err);
    assert.match(r.err, /mote ota: the board went back to its previous files: reset 3 times before online\n/);
    assert.equal(board.storage.read("mote-user.js"), readFileSync(v1, "latin1"));
    await waitFor(() => said(base, "who").filter((s) => s == "script v1").length >= 2, 5000, "v1 again");
    // removed; removing again is nothing to do
    r = await mote(["ota", "--device", id, "--remove-user"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, new RegExp(`removing mote-user\\.js \\(\\d+ bytes\\) from ${id}\\n[^]*done: ${id} runs without mote-user\\.js \\(boot ota\\)\\n$`));
    assert.equal(board.storage.read("mote-user.js"), undefined);
    r = await mote(["ota", "--device", id, "--remove-user"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /has no mote-user\.js: nothing to remove/);
  });

test("ota --user: a file that cannot fit is refused before anything is sent (exit 3, the figures); usage errors exit 2", { timeout: 60000 }, async (t) => {
  if (!requireBoardSide(t)) return;
  const { board, id } = await flashedBoard();
  const free = board.storage.free();
  let r = await mote(["ota", "--device", id, "--user", file("huge.js", "//" + "x".repeat(Math.floor(free / 2)) + "\n")]);
  assert.equal(r.code, 3, r.err);
  const m = /mote ota: no room: the update needs (\d+) bytes of Storage \(the files staged, their backups and new copies\), the board has (\d+) free: nothing was sent\n$/.exec(r.err);
  assert.ok(m, r.err);
  assert.ok(+m[1] > +m[2]);
  // what the board said it had when asked (its counter written since: the same size from then on)
  assert.equal(+m[2], board.storage.free());
  assert.ok(free - +m[2] < 128);
  assert.equal(board.storage.list().filter((f) => f.endsWith(".new")).length, 0);
  for (const [args, want] of [
    [["--user", file("empty.js", "")], /is empty: --remove-user removes the script/],
    [["--user", file("a.js", "1"), "--remove-user"], /--user and --remove-user: one or the other/],
    [["--user", file("b.js", "1"), "--bundle", "x.js"], /no --bundle or --no-modules with them/],
  ] as const) {
    r = await mote(["ota", "--device", id, ...args]);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, want);
  }
});

test("ota with a folder of modules: the bundle and the modules that changed go together (exit 0); a new set that fails: exit 4, bundle and modules back",
  { timeout: 120000 }, async (t) => {
    if (!requireBoardSide(t)) return;
    const { board, id, base } = await flashedBoard();
    const fw = (n: string) => readFileSync(join(ROOT, "firmware", n + ".js"), "latin1");
    const build = join(suite.dir, "build-" + id);
    mkdirSync(build);
    const bundle = fw("mote") + `\n// ${id}\n`;
    writeFileSync(join(build, "mote.js"), bundle);
    writeFileSync(join(build, "mote-info.js"), fw("mote-info").replace("remote:!!", 'mods:"v2",remote:!!'));
    writeFileSync(join(build, "mote-remote-cmd.js"), fw("mote-remote-cmd") + "\n// v2\n");
    writeFileSync(join(build, "mote-diag.js"), fw("mote-diag")); // unchanged: not sent
    writeFileSync(join(build, "mote-ha.js"), fw("mote-ha") + "\n// v2\n"); // the board has none: not sent
    let r = await mote(["ota", "--device", id, "--bundle", join(build, "mote.js")]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /mote ota: modules that changed: mote-info, mote-remote-cmd\n/);
    assert.match(r.err, new RegExp(`mote ota: done: ${id} runs ${hashHex("sha256", bundle)} with mote-info, mote-remote-cmd updated \\(boot ota\\); the bundle's \\d+ bytes`));
    assert.equal(infos.get(base)?.mods, "v2");
    assert.equal(board.storage.read("mote-ha"), undefined);
    // modules changed, bundle the same: the modules alone
    writeFileSync(join(build, "mote-remote-cmd.js"), fw("mote-remote-cmd") + "\n// v3\n");
    r = await mote(["ota", "--device", id, "--bundle", join(build, "mote.js")]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /mote ota: the bundle is the same; modules that changed: mote-remote-cmd\n/);
    assert.equal(board.storage.read("mote-remote-cmd"), fw("mote-remote-cmd") + "\n// v3\n");
    // a bundle that throws at boot with new modules: everything back
    writeFileSync(join(build, "mote.js"), 'throw new Error("broken build");\n');
    writeFileSync(join(build, "mote-info.js"), fw("mote-info"));
    r = await mote(["ota", "--device", id, "--bundle", join(build, "mote.js")]);
    assert.equal(r.code, 4, r.err);
    assert.match(r.err, /mote ota: the board rolled back to its previous bundle: threw at boot: broken build\n/);
    await waitFor(() => infos.get(base)?.boot == "rollback", 5000, "rollback info");
    assert.equal(infos.get(base)?.hash, hashHex("sha256", bundle));
    assert.equal(infos.get(base)?.mods, "v2", "the modules of the running bundle");
    // --no-modules: the bundle alone
    writeFileSync(join(build, "mote.js"), fw("mote"));
    r = await mote(["ota", "--device", id, "--bundle", join(build, "mote.js"), "--no-modules"]);
    assert.equal(r.code, 0, r.err);
    assert.doesNotMatch(r.err, /modules that changed/);
    assert.equal(infos.get(base)?.mods, "v2");
  });
