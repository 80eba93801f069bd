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
//     it depends on the load of the machine).
// Prints the figures and exits 1 when a check fails, 2 without ESPRUINO.
import { startMosquitto } from "../../test/support/mosquitto.js";
import { measureRemote, printRemote, remoteInterpreters } from "./bench-remote.js";

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
  } finally {
    await broker.stop();
  }
  process.exit(fail ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
