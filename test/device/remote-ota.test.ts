// Firmware over MQTT and the boot guard (mote-remote-ota, firmware/boot.js) in the simulator against
// Mosquitto: an update that works, a corrupted chunk, a wrong hash, a bundle that throws at boot or
// never connects, an image that does not fit, a transfer resumed after a dropped connection, and power
// cuts at random instants across transfer, swap and first boot. Each time the board comes back on a
// working bundle and says which on <base>/info.
import { test } from "node:test";
import assert from "node:assert/strict";
import { seededRandom } from "../support/util.js";
import { hashHex } from "../../src/tools/mote/protocol.js";
import { remoteSuite, bundles, sleep } from "./remote-rig.js";

const { a: A, b: B } = bundles();
const suite = remoteSuite("ota"), { device } = suite;

const h = (alg: "sha1" | "sha256", b: Buffer) => hashHex(alg, b);

test("OTA: the new bundle is checked, swapped in, booted and confirmed; the next one goes to the other slot", async () => {
  const { board, host, info } = await device();
  assert.equal(info.hash, h("sha256", A));
  const t0 = Date.now();
  const { begin, end } = await host.ota(B);
  assert.equal(begin.ok, true, JSON.stringify(begin));
  assert.equal(begin.next, 0);
  assert.ok((begin.chunk as number) > 0 && (begin.window as number) >= 1);
  assert.deepEqual(end && { ok: end.ok, op: end.op }, { ok: true, op: "ota_end" });
  const now = await host.info((i) => i.hash == h("sha256", B));
  const ms = Date.now() - t0;
  assert.equal(now.boot, "ota");
  assert.equal(now.fw, "0.2.0");
  assert.equal(board.storage.read("mote.b"), B.toString("latin1"));
  assert.equal(board.storage.read("mote.ota"), undefined, "transfer record gone");
  console.log(`# OTA of ${B.length} bytes in ${ms} ms (${Math.round(B.length / ms * 1000)} bytes/s, simulator, loopback Mosquitto)`);
  // confirmed: a power cycle later, the new bundle as a plain power-on
  board.powerCut();
  let k = host.infos().length;
  board.powerOn();
  const again = await host.info(() => true, k);
  assert.deepEqual([again.boot, again.hash], ["power", h("sha256", B)]);
  // and back to A, into slot a
  await host.ota(A);
  const back = await host.info((i) => i.hash == h("sha256", A), k);
  assert.equal(back.boot, "ota");
  k = host.infos().length;
  board.powerCut(); board.powerOn();
  assert.equal((await host.info(() => true, k)).hash, h("sha256", A));
  assert.deepEqual(board.errors, []);
});

test("OTA refused at the end: a corrupted chunk, a wrong hash; the board goes on with its bundle, no restart", async () => {
  const { board, host } = await device();
  const r1 = await host.ota(B, { corrupt: (off, b) => { if (off == 0) b[100] ^= 0x20; return b; } });
  assert.equal(r1.end?.ok, false);
  assert.match(r1.end!.err![0], /^hash mismatch/);
  const r2 = await host.ota(B, { hash: h("sha256", A) });
  assert.equal(r2.end?.ok, false);
  assert.match(r2.end!.err![0], /^hash mismatch/);
  assert.equal(board.reboots, 0);
  assert.equal(board.storage.read("mote.b"), undefined, "the staged image is erased");
  assert.equal(board.storage.read("mote.ota"), undefined);
  assert.ok(host.on("error").some((m) => m.text.startsWith("remote: update refused: hash mismatch")));
  assert.equal(host.infos().length, 1);
  // still updatable
  await host.ota(B);
  await host.info((i) => i.hash == h("sha256", B) && i.boot == "ota");
});

test("OTA of a bundle that throws at boot, or in its init: rolled back at once to the previous one", async () => {
  const { board, host } = await device();
  for (const bad of ['throw new Error("boom");', 'E.on("init", function () { throw new Error("init boom"); });']) {
    const img = Buffer.from(bad, "latin1");
    const k = host.infos().length;
    const r = await host.ota(img);
    assert.equal(r.end?.ok, true);
    const back = await host.info(() => true, k);
    assert.equal(back.boot, "rollback");
    assert.match(back.why!, /boom/);
    assert.equal(back.hash, h("sha256", A));
  }
  assert.ok(board.reboots >= 4);
});

test("OTA of a bundle that never connects: rolled back after confirm seconds", async () => {
  const { host } = await device();
  const idle = Buffer.from('E.on("init", function () { print("idle"); setInterval(function () {}, 1000); });', "latin1");
  const t0 = Date.now();
  await host.ota(idle);
  const back = await host.info((i) => i.boot == "rollback", 0, 15000);
  assert.match(back.why!, /not online within 3 s/);
  assert.equal(back.hash, h("sha256", A));
  assert.ok(Date.now() - t0 >= 2900, "waited for confirm");
});

test("OTA whose first boots keep resetting before online: back to the previous bundle after 3 tries", async () => {
  const { board, host } = await device({ confirm: 30 });
  const k = host.infos().length;
  // the swap is committed, the restart is near: from then on every boot is cut short (WiFi slow to
  // join, so that no boot reaches the broker before its cut)
  board.wifi.connectDelay = 2000;
  const r = await host.ota(B);
  assert.equal(r.end?.ok, true);
  await host.until(() => board.reboots >= 1, "restart into the new bundle");
  for (let i = 0; i < 3; i++) { board.powerCut(); board.powerOn(); }
  board.wifi.connectDelay = 150;
  const back = await host.info((i) => i.boot == "rollback", k, 15000);
  assert.match(back.why!, /reset 3 times before online/);
  assert.equal(back.hash, h("sha256", A));
});

test("OTA that cannot fit is refused before it starts, with the figures", async () => {
  const { board, host } = await device({ board: "wemos-d1-mini" });
  const free = board.storage.free();
  const size = free; // the image alone would fill what is left, with no room for its header
  const r = await host.cmd("ota_begin", { size, hash: "0".repeat(40), version: "big" });
  assert.equal(r.ok, false);
  const m = /the image of (\d+) bytes needs (\d+) bytes of Storage, (\d+) are free/.exec(r.err![0]);
  assert.ok(m, r.err![0]);
  assert.equal(+m![1], size);
  assert.ok(+m![2] > size);
  // what it says is free is what is free: nothing was written for the image (the counter was: 1 small file)
  assert.equal(+m![3], board.storage.free());
  assert.ok(free - board.storage.free() < 128);
  // SHA-1 board: a SHA-256 hash is refused as malformed
  const r2 = await host.cmd("ota_begin", { size: 10, hash: "0".repeat(64) });
  assert.equal(r2.ok, false);
});

test("OTA resumes after a dropped connection instead of starting over", async () => {
  const { board, host } = await device();
  const part = await host.ota(B, { stopAfter: Math.floor(B.length / 2) });
  const got = part.next as number;
  assert.ok(got >= B.length / 2 && got < B.length, `stopped at ${got}`);
  // the link drops (the board's WiFi goes and comes back) and the host starts again with the same image
  board.wifi.drop();
  await sleep(300);
  board.wifi.restore();
  await host.until(() => host.on("status").at(-1)?.text == "online" && board.json("mote.up") == 1, "back online", 15000);
  const { begin, end } = await host.ota(B);
  // Where it stopped: at least what the host saw acknowledged (a chunk still in flight when the host
  // stopped may have been written after its last ack), and not from the start.
  const at = begin.next as number;
  assert.ok(at >= got && at < B.length, `resumed at ${at}, the host stopped after ${got} of ${B.length}`);
  assert.equal(end?.ok, true);
  await host.info((i) => i.hash == h("sha256", B) && i.boot == "ota");
});

test("power cut at 50+ random instants across transfer, swap and first boot: always back on a working bundle, saying which", async () => {
  const { board, host } = await device({ board: "wemos-d1-mini" });
  const alg = "sha1";
  const known: Record<string, string> = { [h(alg, A)]: "A", [h(alg, B)]: "B" };
  const rand = seededRandom(Number(process.env.MOTE_SEED) || 20261204);
  // A reference update: how many Storage units (and ms) each phase takes.
  let u0 = board.storage.units, t0 = Date.now(), k = host.infos().length;
  await host.ota(B);
  const u1 = board.storage.units - u0; // transfer + check + swap committed
  await host.info((i) => i.hash == h(alg, B), k);
  await sleep(200);
  const u2 = board.storage.units - u0, ms = Date.now() - t0; // + first boot, confirmed
  let running = B;
  const phases = { transfer: 0, swap: 0, "first boot": 0, time: 0 };
  for (let trial = 0; trial < 54; trial++) {
    const next = running === A ? B : A;
    k = host.infos().length;
    let how: keyof typeof phases;
    let timer: NodeJS.Timeout | undefined;
    if (trial % 4 == 3) {
      how = "time";
      timer = setTimeout(() => board.powerCut(), Math.floor(rand() * ms));
    } else {
      // units: a byte of the image, a step of the swap, or one of the first boot
      const at = trial % 4 == 0 ? rand() * (next.length + 200) : trial % 4 == 1 ? next.length + 150 + rand() * (u1 - next.length - 150) : u1 + rand() * (u2 - u1);
      how = trial % 4 == 0 ? "transfer" : trial % 4 == 1 ? "swap" : "first boot";
      board.storage.cutAfter(Math.floor(at));
    }
    phases[how]++;
    try {
      await host.ota(next, { abort: () => board.isOff, ms: 20000 });
    } catch (e) {
      if (!board.isOff) throw e;
    }
    // wait until the power is gone (or the whole update went through before the instant came)
    const tEnd = Date.now() + 6000;
    while (!board.isOff && Date.now() < tEnd && !host.infos().slice(k).some((i) => i.hash == h(alg, next))) await sleep(5);
    clearTimeout(timer);
    if (!board.isOff) { board.storage.powerOn(); board.powerCut(); } // cut now: it was after everything
    await sleep(20);
    const k2 = host.infos().length;
    board.powerOn();
    const info = await host.info(() => true, k2, 15000);
    const which = known[info.hash];
    assert.ok(which, `trial ${trial} (${how}): back on an unknown bundle ${info.hash}`);
    assert.ok(info.boot == "power" || (info.boot == "ota" && info.hash == h(alg, next)),
      `trial ${trial} (${how}): boot ${info.boot} ${info.why ?? ""} on ${which}`);
    running = which == "A" ? A : B;
    await host.until(() => board.json("mote.up") == 1, "connected");
  }
  console.log(`# power cuts: ${JSON.stringify(phases)}`);
  // nothing left behind but the layout: at most one staged image and its record
  const files = board.storage.list().filter((f) => !["mote.a", "mote.b", "mote.s0", "mote.s1", "mote.ota", "mote.json", "mote.board", ".bootcde"].includes(f) && !f.startsWith("mote-"));
  assert.deepEqual(files, []);
});
