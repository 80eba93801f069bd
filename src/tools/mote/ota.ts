// `mote ota [--bundle firmware/mote.js] [--version V]`: sends a runtime bundle to a board over MQTT
// with a progress bar (bytes, rate, ETA), together with the feature modules beside it that the board
// has and that changed (update.ts), and exits 0 only once the board's <base>/info names the new
// bundle's hash; 3 when the board refuses it (no room: the figures; a bad image), 4 when the board
// went back to its previous bundle, 5 on a timeout, 1 for anything else. Run again after a failure,
// it resumes where the board stopped. `mote ota --user FILE` / `--remove-user` changes the user's
// mote-user.js instead, the same way (staged, checked, on trial, rolled back when it fails).
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import cliProgress from "cli-progress";
import { EXIT, UsageError, secondsOf } from "./options.js";
import { withRemote, type Session } from "./session.js";
import { hashHex } from "./protocol.js";
import { RemoteError, FILE_HASH_DIGITS, type BoardFiles, type OtaOptions } from "./remote.js";
import { runUpdate, changedModules, type UpdatePlan } from "./update.js";
import { ROOT } from "../config-check.js";

export const USAGE = `usage: mote ota --broker URL --device CLIENT_ID [--bundle FILE] [--no-modules] [--version V] [--key SECRET | --key-file F]
                [--timeout S] [--stall S]
       mote ota --broker URL --device CLIENT_ID --user FILE | --remove-user [...]

  --bundle FILE  the runtime bundle to send (default: firmware/mote.js of this checkout, built by npm run build);
                 the feature modules beside it (mote-<name>.js in its folder) that the board has and that differ
                 from the board's copies go with it: staged and checked one by one, then swapped in with the bundle
                 and on trial together (a failed trial brings back the previous bundle and modules)
  --no-modules   send the bundle alone
  --user FILE    send your own code instead (the bundle stays): FILE becomes the board's mote-user.js (with
                 mote-script, its API, when the board lacks it), on trial like a bundle: a board that does not get
                 online with it within remote.confirm seconds, or resets 3 times, goes back to its previous script
                 (an exception in the script is no failure: the board reports it on <base>/error and stays up)
  --remove-user  delete the board's mote-user.js (on trial the same way)
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

/** Progress callbacks for Remote.ota: a bar per transfer (stderr), the steps as lines between. */
function progressBar(say: (line: string) => void) {
  // The bar goes to stderr; where that is not a terminal (logs, CI) it prints a line every 2 s instead.
  const bar = new cliProgress.SingleBar({
    format: "{bar} {percentage}% | {value}/{total} bytes | {speed} | ETA {left}",
    stream: process.stderr, noTTYOutput: true, notTTYSchedule: 2000, hideCursor: true, etaBuffer: 1,
  }, cliProgress.Presets.shades_classic);
  let started = false;
  const stop = () => { if (started) { bar.stop(); started = false; } };
  const callbacks: OtaOptions & { onFile: (name: string, bytes: number) => void } = {
    onState: (state, detail) => {
      if (state == "transfer" || state == "checked" || state == "restarting" || state == "online" || state == "done") stop();
      if (!started) say(detail);
    },
    onProgress: (bytes, total, rate, eta) => {
      const payload = { speed: kb(rate) + "/s", left: duration(eta) };
      if (!started) { bar.start(total, bytes, payload); started = true; } else bar.update(bytes, payload);
    },
    onFile: (name, bytes) => { stop(); say(`${name}: ${bytes} bytes`); },
  };
  return { callbacks, stop };
}

/** What the board has beside the bundle, or undefined when it cannot say (firmware from before files could be updated). */
async function boardFiles(s: Session): Promise<BoardFiles | undefined> {
  try {
    return await s.remote.files();
  } catch (e) {
    if (e instanceof RemoteError && e.code == "refused" && !e.errors.some((x) => /mac|counter/.test(x))) return undefined;
    throw e;
  }
}

export async function run(argv: string[]): Promise<number> {
  let image: Buffer | undefined, bundle = "", stall: number | undefined, user: Buffer | undefined, userFile = "";
  return withRemote("ota", argv, { valued: ["bundle", "version", "stall", "user"], flags: ["no-modules", "remove-user"] }, USAGE, async (s) => {
    const { remote, parsed, timeout, say } = s, info = remote.info(), img = image as Buffer;
    const version = typeof parsed.flags.version == "string" ? parsed.flags.version : packageVersion();
    const bar = progressBar(say), opts = { version, timeout, stall, ...bar.callbacks };
    try {
      // The user's script: staged, then committed alone.
      if (user || parsed.flags["remove-user"]) {
        const have = await boardFiles(s);
        if (!have) throw new RemoteError(`${info.id} cannot take files beside its bundle: update its firmware first (mote ota)`, "refused", [], info);
        const now = have.files["mote-user.js"], plan: UpdatePlan = { files: [], del: [] };
        if (user) {
          if (now && now.hash == hashHex(info.alg, user).slice(0, FILE_HASH_DIGITS)) { say(`${info.id} already runs this mote-user.js`); return EXIT.ok; }
          plan.files.push({ name: "mote-user.js", data: user });
          // Its API: flash.sh put it only on boards flashed with --user.
          if (!have.files["mote-script"]) plan.files.push({ name: "mote-script", data: readFileSync(join(dirname(bundle), "mote-script.js")) });
          say(`${userFile} (${user.length} bytes) as mote-user.js to ${info.id} (${info.board}, ${now ? "replacing " + now.size + " bytes" : "no script yet"}, ` +
            `${have.free} bytes of Storage free)`);
        } else {
          if (!now) { say(`${info.id} has no mote-user.js: nothing to remove`); return EXIT.ok; }
          plan.del.push("mote-user.js");
          say(`removing mote-user.js (${now.size} bytes) from ${info.id}`);
        }
        const r = await runUpdate(remote, plan, { ...opts, have });
        bar.stop();
        say(`done: ${info.id} runs ${user ? "the new mote-user.js" : "without mote-user.js"} (boot ${r.info.boot})`);
        return EXIT.ok;
      }
      say(`${bundle} (${img.length} bytes, version ${version}) to ${info.id} (${info.board}, running ${info.fw} ${info.hash.slice(0, 12)}..., ` +
        `${info.free} bytes of Storage free)`);
      // The modules beside the bundle that changed go with it.
      const have = parsed.flags["no-modules"] ? undefined : await boardFiles(s);
      if (!parsed.flags["no-modules"] && !have) say(`${info.id} does not list its files (firmware from before that): the bundle goes alone`);
      const modules = have ? changedModules(dirname(bundle), have, info.alg) : [];
      if (modules.length) {
        const sameBundle = hashHex(info.alg, img) == info.hash;
        say(`${sameBundle ? "the bundle is the same; " : ""}modules that changed: ${modules.map((m) => m.name).join(", ")}`);
        const r = await runUpdate(remote, { bundle: sameBundle ? undefined : img, files: modules, del: [] }, { ...opts, have });
        bar.stop();
        say(`done: ${info.id} runs ${r.info.hash} with ${r.files.join(", ")} updated (boot ${r.info.boot})` +
          (r.bundle ? `; the bundle's ${r.bundle.bytes} bytes in ${(r.bundle.ms / 1000).toFixed(1)} s, ${Math.round(r.bundle.rate)} bytes/s` : ""));
        return EXIT.ok;
      }
      const result = await remote.ota(img, opts);
      bar.stop();
      if (!result.alreadyRunning)
        say(`done: ${info.id} runs ${result.hash} (boot ${result.info.boot}); ${result.bytes} bytes in ${(result.ms / 1000).toFixed(1)} s, ` +
          `${Math.round(result.rate)} bytes/s${result.resumedFrom ? `, resumed at ${result.resumedFrom}` : ""}`);
      return EXIT.ok;
    } finally {
      bar.stop();
    }
  }, (p) => {
    if (p.rest.length) throw new UsageError(`unexpected ${JSON.stringify(p.rest[0])}`);
    if (p.flags.user !== undefined && p.flags["remove-user"]) throw new UsageError("--user and --remove-user: one or the other");
    if ((p.flags.user !== undefined || p.flags["remove-user"]) && (p.flags.bundle !== undefined || p.flags["no-modules"]))
      throw new UsageError("--user / --remove-user change the user's script only: no --bundle or --no-modules with them");
    if (p.flags.user !== undefined) {
      if (typeof p.flags.user != "string") throw new UsageError("--user needs a file");
      userFile = resolve(p.flags.user);
      try {
        user = readFileSync(userFile);
      } catch (e) {
        throw new Error(`cannot read ${userFile}: ${(e as NodeJS.ErrnoException).code || (e as Error).message}`);
      }
      if (!user.length) throw new UsageError(`${userFile} is empty: --remove-user removes the script`);
    }
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
