// Files beside the runtime bundle over MQTT (mote-remote-files, mote-swap and the boot guard) in the
// simulator against Mosquitto: the user's mote-user.js installed, replaced, removed, refused (a
// corrupted chunk, a wrong hash) and rolled back when the board does not get online with it; feature
// modules updated with the bundle, confirmed or rolled back together; and power cuts at random instants
// across the transfers, the swap and the first boot of a multi-file update, after each of which the
// board boots a consistent set (bundle and modules of one update) and says which.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SimBoard } from "../../src/host/index.js";
import { seededRandom } from "../support/util.js";
import { hashHex } from "../../src/tools/mote/protocol.js";
import { remoteSuite, bundles, fw, sleep, update, prefixOf } from "./remote-rig.js";

const { a: A, b: B } = bundles();
const suite = remoteSuite("files"), { device } = suite;

const buf = (s: string) => Buffer.from(s, "latin1");
// A user script that says which version it is, once connected, and has a sensor.
const script = (v: string) => buf(`mote.publish("script", "${v}", { qos: 1 });\nmote.sensor({ name: "dew", every: 0.2, read: function () { return ${v.length}; } });\n`);
/** The boot state as the guard reads it (bootstate.ts): the valid record of mote.s0/mote.s1 with the highest g. */
function bootState(board: SimBoard): any {
  const rec = (n: string) => { try { const v = JSON.parse(board.storage.read(n) ?? ""); return typeof v.g == "number" ? v : undefined; } catch { return undefined; } };
  const a = rec("mote.s0"), b = rec("mote.s1");
  return (b && (!a || b.g > a.g) ? b : a) ?? { g: 0 };
}
const leftovers = (board: SimBoard) => board.storage.list().filter((f) => /\.(new|old)$/.test(f));
const userSensors = (board: SimBoard) => board.json("mote.c.sensors.filter(function (s) { return s.type == 'user'; }).map(function (s) { return s.name; })");

test("user script by OTA: installed (with mote-script, which the board lacked) and running; replaced; removed", async () => {
  const { board, host } = await device();
  assert.equal(board.storage.read("mote-user.js"), undefined);
  assert.equal(board.storage.read("mote-script"), undefined);
  let k = host.infos().length;
  const r = await update(host, { "mote-user.js": script("v1"), "mote-script": buf(fw("mote-script")) });
  assert.deepEqual(r.staged.map((x) => [x.op, x.ok, x.staged]), [["ota_end", true, "mote-user.js"], ["ota_end", true, "mote-script"]]);
  assert.equal(r.commit.ok, true, JSON.stringify(r.commit));
  let info = await host.info((i) => i.boot == "ota" || i.boot == "rollback", k);
  assert.equal(info.boot, "ota");
  assert.equal(info.hash, hashHex("sha256", A), "the bundle stays");
  await host.until(() => host.on("script").some((m) => m.text == "v1") && host.on("dew").length > 0, "the script's publish and its sensor");
  assert.deepEqual(userSensors(board), ["dew"]);
  assert.equal(board.storage.read("mote-user.js"), script("v1").toString("latin1"));
  await host.until(() => leftovers(board).length == 0, "the backups go once confirmed");
  // what the board lists: the script with its size and hash prefix
  const l = await host.cmd("files");
  assert.deepEqual((l.files as any)["mote-user.js"], [script("v1").length, prefixOf("sha256", script("v1"))]);
  assert.ok((l.free as number) > 0);
  // replaced
  k = host.infos().length;
  assert.equal((await update(host, { "mote-user.js": script("v2-longer") })).commit.ok, true);
  info = await host.info((i) => i.boot == "ota" || i.boot == "rollback", k);
  assert.equal(info.boot, "ota");
  await host.until(() => host.on("script").some((m) => m.text == "v2-longer"), "the new script");
  // confirmed: a power cycle later it still runs, as a plain power-on
  board.powerCut();
  k = host.infos().length;
  board.powerOn();
  assert.equal((await host.info(() => true, k)).boot, "power");
  await host.until(() => host.on("script").filter((m) => m.text == "v2-longer").length >= 2, "the script after power-on");
  // removed: a signed ota_commit with del
  k = host.infos().length;
  const seen = host.on("script").length;
  const rm = await host.cmd("ota_commit", { files: {}, del: ["mote-user.js"] });
  assert.equal(rm.ok, true, JSON.stringify(rm));
  info = await host.info((i) => i.boot == "ota" || i.boot == "rollback", k);
  assert.equal(info.boot, "ota");
  await host.until(() => board.json("mote.up") == 1, "online");
  await sleep(500);
  assert.equal(board.storage.read("mote-user.js"), undefined);
  assert.deepEqual(userSensors(board), []);
  assert.equal(host.on("script").length, seen, "no script ran");
  await host.until(() => leftovers(board).length == 0, "the backup goes once confirmed");
  // removing what is not there is refused, nothing happens
  const again = await host.cmd("ota_commit", { files: {}, del: ["mote-user.js"] });
  assert.equal(again.ok, false);
  assert.match(again.err![0], /nothing to change/);
  assert.deepEqual(board.errors, []);
});

test("user script refused: a corrupted chunk or a wrong hash; a set not staged; a name an update may not write; the old script runs on", async () => {
  const { board, host } = await device({ user: script("old").toString("latin1") });
  await host.until(() => host.on("script").some((m) => m.text == "old"), "the old script");
  const img = buf(script("new").toString("latin1") + "// " + "x".repeat(3000) + "\n");
  const r1 = await host.ota(img, { args: { file: "mote-user.js" }, corrupt: (off, b) => { if (off == 0) b[10] ^= 0x20; return b; } });
  assert.equal(r1.end?.ok, false);
  assert.match(r1.end!.err![0], /^hash mismatch/);
  const r2 = await host.ota(img, { args: { file: "mote-user.js" }, hash: hashHex("sha256", A) });
  assert.equal(r2.end?.ok, false);
  assert.match(r2.end!.err![0], /^hash mismatch/);
  assert.equal(board.storage.read("mote-user.js.new"), undefined, "the staged file is erased");
  // a commit of what is not staged (or staged with another hash)
  const c = await host.cmd("ota_commit", { files: { "mote-user.js": prefixOf("sha256", img) } });
  assert.equal(c.ok, false);
  assert.match(c.err![0], /mote-user\.js: not staged/);
  // names an update may not write: the boot guard, the config, a bundle slot, a path
  for (const file of [".bootcde", "mote.json", "mote.a", "../x", "mote-user.js.old", "x".repeat(30)]) {
    const r = await host.cmd("ota_begin", { size: 10, hash: "0".repeat(64), file });
    assert.equal(r.ok, false, file);
    assert.match(r.err![0], /not one an update may change/);
  }
  // a commit that names a file the board was not sent cannot install it either
  const d = await host.cmd("ota_commit", { files: { ".bootcde": "0".repeat(16) } });
  assert.equal(d.ok, false);
  assert.equal(board.reboots, 0, "no restart");
  assert.equal(board.storage.read("mote-user.js"), script("old").toString("latin1"));
  const before = host.on("dew").length;
  await host.until(() => host.on("dew").length > before || host.on("dew").length > 0, "the old script's sensor still there");
  assert.ok(host.on("error").some((m) => m.text.startsWith("remote: update refused: hash mismatch")));
  // and a good one goes through
  const ok = await update(host, { "mote-user.js": img });
  assert.equal(ok.commit.ok, true);
  await host.until(() => host.on("script").some((m) => m.text == "new"), "the new script");
});

for (const [what, bad, why] of [
  ["resets the board at every start", "E.reboot();", /reset 3 times before online/],
  ["throws outside mote-script's reach before the board is online", 'setTimeout(function () { throw new Error("script boom"); }, 0);', /threw: script boom/],
] as const) {
  test(`a user script that ${what}: rolled back to the previous script, and said on info`, async () => {
    const { board, host } = await device({ user: script("good").toString("latin1") });
    await host.until(() => host.on("script").some((m) => m.text == "good"), "the good script");
    const k = host.infos().length;
    const r = await update(host, { "mote-user.js": buf(bad) });
    assert.equal(r.commit.ok, true);
    const back = await host.info((i) => i.boot == "rollback" || i.boot == "ota", k, 20000);
    assert.equal(back.boot, "rollback");
    assert.match(back.why!, why);
    assert.equal(board.storage.read("mote-user.js"), script("good").toString("latin1"), "the previous script is back");
    await host.until(() => host.on("script").filter((m) => m.text == "good").length >= 2, "the previous script runs again");
    await host.until(() => leftovers(board).length == 0, "no .new/.old left");
    // and the board takes updates again
    assert.equal((await host.cmd("files")).ok, true);
  });
}

test("a first user script that fails: rolled back to no script at all (and mote-script, added with it, gone too)", async () => {
  const { board, host } = await device();
  const k = host.infos().length;
  const r = await update(host, { "mote-user.js": buf("E.reboot();"), "mote-script": buf(fw("mote-script")) });
  assert.equal(r.commit.ok, true);
  const back = await host.info((i) => i.boot == "rollback" || i.boot == "ota", k, 20000);
  assert.equal(back.boot, "rollback");
  assert.equal(board.storage.read("mote-user.js"), undefined);
  assert.equal(board.storage.read("mote-script"), undefined);
  await host.until(() => leftovers(board).length == 0, "no .new/.old left");
});

// Modules v2: mote-info says so in <base>/info (field mods), the others differ by a comment.
const MODS = ["mote-info", "mote-remote-cmd", "mote-mqtt-sub"];
function modules(v: 1 | 2): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const m of MODS) {
    let t = fw(m);
    if (v == 2) t = m == "mote-info" ? t.replace("remote:!!", 'mods:"v2",remote:!!') : t + "\n// v2\n";
    assert.ok(v == 1 || t != fw(m), m);
    out[m] = buf(t);
  }
  return out;
}

test("runtime and modules together: a new set installed and confirmed; a trial that fails restores the bundle and every module", async () => {
  const { board, host } = await device();
  const v1 = modules(1), v2 = modules(2);
  let k = host.infos().length;
  const r = await update(host, v2, { bundle: B });
  assert.deepEqual(r.staged.map((x) => x.ok), [true, true, true]);
  assert.equal(r.commit.ok, true, JSON.stringify(r.commit));
  let info = await host.info((i) => i.boot == "ota" || i.boot == "rollback", k);
  assert.deepEqual([info.boot, info.hash, info.fw, info.mods], ["ota", hashHex("sha256", B), "0.2.0", "v2"]);
  for (const m of MODS) assert.equal(board.storage.read(m), v2[m].toString("latin1"), m);
  await host.until(() => leftovers(board).length == 0, "backups gone once confirmed");
  // the new modules work: a command through the new mote-remote-cmd, a power cycle on the new set
  assert.equal((await host.cmd("config_get")).ok, true);
  board.powerCut(); k = host.infos().length; board.powerOn();
  info = await host.info(() => true, k);
  assert.deepEqual([info.boot, info.hash, info.mods], ["power", hashHex("sha256", B), "v2"]);
  // a bundle that never gets online, with the v1 modules: back to B and the v2 modules
  const idle = buf('E.on("init", function () { print("idle"); setInterval(function () {}, 1000); });');
  k = host.infos().length;
  const r2 = await update(host, v1, { bundle: idle });
  assert.equal(r2.commit.ok, true);
  info = await host.info((i) => i.boot == "rollback" || i.boot == "ota", k, 15000);
  assert.equal(info.boot, "rollback");
  assert.match(info.why!, /not online within 3 s/);
  assert.deepEqual([info.hash, info.mods], [hashHex("sha256", B), "v2"]);
  for (const m of MODS) assert.equal(board.storage.read(m), v2[m].toString("latin1"), m);
  await host.until(() => leftovers(board).length == 0, "no .new/.old left");
  // a new mote-remote that does not start: the board gets online but cannot be managed: not confirmed
  const broken = buf('exports.start = function () { throw new Error("remote broken"); };');
  k = host.infos().length;
  assert.equal((await update(host, { "mote-remote": broken }, { bundle: A })).commit.ok, true);
  info = await host.info((i) => i.boot == "rollback", k, 15000);
  assert.equal(info.hash, hashHex("sha256", B));
  assert.equal(board.storage.read("mote-remote"), fw("mote-remote"));
  assert.equal((await host.cmd("config_get")).ok, true, "takes commands again");
});

test("an update whose files cannot fit is refused before its transfer, with the figures; the staged files of a set are checked before the bundle goes", async () => {
  const { board, host } = await device({ board: "wemos-d1-mini" });
  const free = board.storage.free();
  const big = Math.floor(free / 2); // staged + its new copy would need more than what is free
  const r = await host.cmd("ota_begin", { size: big, hash: "0".repeat(40), file: "mote-user.js" });
  assert.equal(r.ok, false);
  const m = /no room: mote-user\.js of (\d+) bytes needs (\d+) bytes of Storage \(with the swap of the files: backups and new copies\), (\d+) are free/.exec(r.err![0]);
  assert.ok(m, r.err![0]);
  assert.equal(+m![1], big);
  assert.ok(+m![2] > free);
  assert.equal(+m![3], board.storage.free());
  // the bundle with a set that is not staged: refused at ota_begin, before any byte
  const b = await host.cmd("ota_begin", { size: B.length, hash: hashHex("sha1", B), files: { "mote-info": "0".repeat(16) } });
  assert.equal(b.ok, false);
  assert.match(b.err![0], /mote-info: not staged/);
  assert.equal(board.storage.read("mote.b"), undefined);
});

test("a board whose boot guard predates file updates refuses them (it could not roll them back)", async () => {
  const { board, host } = await device();
  const old = board.storage.read(".bootcde")!.split("mote-swap").join("mote-nope");
  board.storage.write(".bootcde", Buffer.from(old, "latin1"));
  const s = await host.ota(script("x"), { args: { file: "mote-user.js" } });
  assert.equal(s.end?.ok, true, "staging is harmless");
  const c = await host.cmd("ota_commit", { files: { "mote-user.js": prefixOf("sha256", script("x")) } });
  assert.equal(c.ok, false);
  assert.match(c.err![0], /boot guard cannot swap files: flash it again/);
  assert.equal(board.reboots, 0);
});

test("power cut at 50+ random instants across the transfers, the swap and the first boot of a multi-file update: always a consistent working set, saying which", async () => {
  const { board, host } = await device({ board: "wemos-d1-mini" });
  const alg = "sha1";
  const sets = { A: { bundle: A, mods: modules(1) }, B: { bundle: B, mods: modules(2) } };
  const known: Record<string, "A" | "B"> = { [hashHex(alg, A)]: "A", [hashHex(alg, B)]: "B" };
  const rand = seededRandom(Number(process.env.MOTE_SEED) || 20261207);
  // A reference update to B: the Storage units (and ms) of the transfers up to the commit, and of the
  // restart (the guard's swap first, then the first boot, confirmed).
  let u0 = board.storage.units, t0 = Date.now(), k = host.infos().length;
  await update(host, sets.B.mods, { bundle: B });
  const u1 = board.storage.units - u0;
  await host.info((i) => i.hash == hashHex(alg, B), k);
  await host.until(() => leftovers(board).length == 0, "confirmed");
  const u2 = board.storage.units - u0, ms = Date.now() - t0;
  const swap = Object.values(sets.B.mods).reduce((n, b) => n + 2 * b.length, 0) + 8; // backups and copies
  let running: "A" | "B" = "B";
  const phases = { transfer: 0, swap: 0, "first boot": 0, time: 0 };
  let midSwap = 0;
  for (let trial = 0; trial < 56; trial++) {
    const next: "A" | "B" = running == "A" ? "B" : "A";
    k = host.infos().length;
    let how: keyof typeof phases;
    let timer: NodeJS.Timeout | undefined;
    if (trial % 4 == 3) {
      how = "time";
      timer = setTimeout(() => board.powerCut(), Math.floor(rand() * ms));
    } else {
      how = (["transfer", "swap", "first boot"] as const)[trial % 4];
      const at = how == "transfer" ? rand() * u1 : how == "swap" ? u1 + rand() * Math.min(swap, u2 - u1) : u1 + rand() * (u2 - u1);
      board.storage.cutAfter(Math.floor(at));
    }
    phases[how]++;
    try {
      await update(host, sets[next].mods, { bundle: sets[next].bundle, abort: () => board.isOff, ms: 20000 });
    } catch (e) {
      if (!board.isOff) throw e;
    }
    const tEnd = Date.now() + 8000;
    while (!board.isOff && Date.now() < tEnd && !(host.infos().slice(k).some((i) => i.hash == hashHex(alg, sets[next].bundle)) && leftovers(board).length == 0)) await sleep(5);
    clearTimeout(timer);
    if (!board.isOff) { board.storage.powerOn(); board.powerCut(); } // cut now: it was after everything
    await sleep(20);
    // where the cut left the swap: named in the boot state (f) and not done (w < 3)
    const st = bootState(board);
    if (st.f && !(st.w > 2)) midSwap++;
    const k2 = host.infos().length;
    board.powerOn();
    const info = await host.info(() => true, k2, 15000);
    const which = known[info.hash];
    assert.ok(which, `trial ${trial} (${how}): back on an unknown bundle ${info.hash}`);
    assert.ok(info.boot == "power" || info.boot == "rollback" || (info.boot == "ota" && which == next),
      `trial ${trial} (${how}): boot ${info.boot} ${info.why ?? ""} on ${which}`);
    // consistent: the modules are those of the bundle it runs, and mote-info (one of them) says so
    assert.equal(info.mods, which == "B" ? "v2" : undefined, `trial ${trial} (${how}): info from the modules of ${which}`);
    for (const m of MODS) assert.equal(board.storage.read(m), sets[which].mods[m].toString("latin1"), `trial ${trial} (${how}): ${m} of set ${which}`);
    running = which;
    await host.until(() => board.json("mote.up") == 1, "connected");
  }
  console.log(`# power cuts (multi-file update): ${JSON.stringify(phases)}; ${midSwap} left the swap of the files half done`);
  assert.ok(midSwap >= 5, `cuts inside the swap itself: ${midSwap}`);
  // and it still takes an update, which cleans what cuts left behind
  const last: "A" | "B" = running == "A" ? "B" : "A";
  k = host.infos().length;
  await update(host, sets[last].mods, { bundle: sets[last].bundle });
  await host.info((i) => i.hash == hashHex(alg, sets[last].bundle) && i.boot == "ota", k, 15000);
  await host.until(() => leftovers(board).length == 0, "nothing left behind");
});
