// `mote ota [--bundle firmware/mote.js] [--version V]`: sends a runtime bundle to a board over MQTT
// with a progress bar (bytes, rate, ETA), and exits 0 only once the board's <base>/info names the new
// bundle's hash; 3 when the board refuses it (no room: the figures; a bad image), 4 when the board
// went back to its previous bundle, 5 on a timeout, 1 for anything else. Run again after a failure,
// it resumes where the board stopped.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import cliProgress from "cli-progress";
import { EXIT, UsageError, secondsOf } from "./options.js";
import { withRemote } from "./session.js";
import { ROOT } from "../config-check.js";

export const USAGE = `usage: mote ota --broker URL --device CLIENT_ID [--bundle FILE] [--version V] [--key SECRET | --key-file F]
                [--timeout S] [--stall S]

  --bundle FILE  the runtime bundle to send (default: firmware/mote.js of this checkout, built by npm run build)
  --version V    a label for this update, sent with it (default: package.json's, ${packageVersion()}); the board then
                 reports the version built into the bundle it runs (<base>/info fw)
  --timeout S    give up after S seconds without progress, the board's restart included (default 120)
  --stall S      no acknowledgement for S seconds: ask the board where it is and go on from there (default 5)
  --base TOPIC, --ca FILE, --broker URL, --username U, --password P, --device CLIENT_ID, --key SECRET,
  --key-file F: as for mote config; without --key/--key-file the key flash.sh kept for that client id is used.

exit codes: 0 the board runs the new bundle, 1 failed (no broker, no such board, no key), 2 usage,
            3 refused (the board's reason follows), 4 rolled back by the board, 5 timeout
`;

function packageVersion(): string {
  try {
    return JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
  } catch {
    return "";
  }
}

const kb = (n: number) => (n / 1024).toFixed(1) + " KB";

/** "1m05s", "12s", "--" for an unknown ETA. */
function duration(s: number): string {
  if (!isFinite(s)) return "--";
  s = Math.round(s);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

export async function run(argv: string[]): Promise<number> {
  let image: Buffer | undefined, bundle = "", stall: number | undefined;
  return withRemote("ota", argv, { valued: ["bundle", "version", "stall"], flags: [] }, USAGE, async ({ remote, parsed, timeout, say }) => {
    const info = remote.info(), img = image as Buffer;
    const version = typeof parsed.flags.version == "string" ? parsed.flags.version : packageVersion();
    say(`${bundle} (${img.length} bytes, version ${version}) to ${info.id} (${info.board}, running ${info.fw} ${info.hash.slice(0, 12)}..., ` +
      `${info.free} bytes of Storage free)`);
    // The bar goes to stderr; where that is not a terminal (logs, CI) it prints a line every 2 s instead.
    const bar = new cliProgress.SingleBar({
      format: "{bar} {percentage}% | {value}/{total} bytes | {speed} | ETA {left}",
      stream: process.stderr, noTTYOutput: true, notTTYSchedule: 2000, hideCursor: true, etaBuffer: 1,
    }, cliProgress.Presets.shades_classic);
    let started = false;
    try {
      const result = await remote.ota(img, {
        version, timeout, stall,
        onState: (state, detail) => {
          if (started && (state == "transfer" || state == "checked" || state == "restarting" || state == "online" || state == "done")) {
            bar.stop(); started = false;
          }
          if (!started) say(detail);
        },
        onProgress: (bytes, total, rate, eta) => {
          const payload = { speed: kb(rate) + "/s", left: duration(eta) };
          if (!started) { bar.start(total, bytes, payload); started = true; } else bar.update(bytes, payload);
        },
      });
      if (started) bar.stop();
      if (!result.alreadyRunning)
        say(`done: ${info.id} runs ${result.hash} (boot ${result.info.boot}); ${result.bytes} bytes in ${(result.ms / 1000).toFixed(1)} s, ` +
          `${Math.round(result.rate)} bytes/s${result.resumedFrom ? `, resumed at ${result.resumedFrom}` : ""}`);
      return EXIT.ok;
    } finally {
      if (started) bar.stop();
    }
  }, (p) => {
    if (p.rest.length) throw new UsageError(`unexpected ${JSON.stringify(p.rest[0])}`);
    if (p.flags.bundle !== undefined && typeof p.flags.bundle != "string") throw new UsageError("--bundle needs a file");
    if (p.flags.version !== undefined && typeof p.flags.version != "string") throw new UsageError("--version needs a value");
    stall = secondsOf(p.flags, "stall");
    bundle = typeof p.flags.bundle == "string" ? resolve(p.flags.bundle) : join(ROOT, "firmware/mote.js");
    try {
      image = readFileSync(bundle);
    } catch (e) {
      throw new Error(`cannot read the bundle ${bundle}: ${(e as NodeJS.ErrnoException).code || (e as Error).message}` +
        (p.flags.bundle === undefined ? " (run npm run build)" : ""));
    }
    if (!image.length) throw new Error(`${bundle} is empty`);
  });
}
