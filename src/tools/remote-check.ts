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
// Prints the figures and exits 1 when a check fails, 2 without ESPRUINO.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startMosquitto, type MosquittoInstance } from "../../test/support/mosquitto.js";
import { mqttjsClient } from "../../test/support/util.js";
import { benchConfig, bootEspBoard, measureRemote, printRemote, remoteInterpreters } from "./bench-remote.js";
import { FILE_HASH_DIGITS } from "./mote/remote.js";
import { hashHex } from "./mote/protocol.js";
import { ROOT } from "./config-check.js";

type Check = (ok: boolean, what: string) => void;

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
  const until = async (f: () => boolean, what: string, ms = 10000) => {
    for (const t = Date.now(); !f(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() - t > ms) throw new Error("timed out waiting for " + what);
  };
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
  } finally {
    await broker.stop();
  }
  process.exit(fail ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
