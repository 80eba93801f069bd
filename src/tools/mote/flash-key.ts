// The device key at flash time, for flash.sh (one implementation of the key store's paths: keys.ts).
//   node flash-key.js prepare IN OUT [--remote]
//       IN has `remote`, or --remote asks for it: writes OUT = IN with remote.key (generated unless IN
//       has one) and remote.confirm (60 unless IN has one), mode 600, and prints
//       "remote <client_id> generated|given"; otherwise prints "plain" and writes nothing.
//   node flash-key.js save CONFIG    keeps CONFIG's remote.key under its mqtt.client_id; prints the file
//   node flash-key.js path CLIENT_ID prints where that client id's key is kept
// Errors go to stderr with exit 1 (flash.sh stops: nothing is uploaded).
import { readFileSync, writeFileSync, chmodSync } from "node:fs";
import { generateKey, keyPath, saveKey } from "./keys.js";

/** The confirm time a board gets when its config does not say (seconds to reach the broker before a rollback). */
export const DEFAULT_CONFIRM = 60;

function fail(msg: string): never {
  process.stderr.write(msg + "\n");
  process.exit(1);
}

function readJson(file: string): any {
  let text: string;
  try { text = readFileSync(file, "utf8"); } catch (e) { fail(`cannot read ${file}: ${(e as Error).message}`); }
  try { return JSON.parse(text); } catch { return undefined; } // not JSON: check-config says so
}

function clientIdOf(cfg: any, file: string): string {
  const id = cfg?.mqtt?.client_id;
  if (typeof id != "string" || !id)
    fail(`${file}: remote management needs mqtt.client_id in the config: mote finds the board and its key by client id ` +
      "(the default, the board's serial number, is not known before the board runs)");
  return id;
}

const [action, ...args] = process.argv.slice(2);
if (action == "prepare") {
  const [input, output, flag] = args;
  const cfg = readJson(input);
  if (!cfg || typeof cfg != "object" || Array.isArray(cfg) || (cfg.remote === undefined && flag != "--remote")) {
    console.log("plain");
    process.exit(0);
  }
  if (cfg.remote !== undefined && (cfg.remote === null || typeof cfg.remote != "object" || Array.isArray(cfg.remote)))
    fail(`${input}: remote must be an object ({"key": ..., "confirm": ${DEFAULT_CONFIRM}}, or {} to have a key generated)`);
  const id = clientIdOf(cfg, input);
  const remote = { ...(cfg.remote || {}) };
  const given = remote.key !== undefined;
  if (!given) remote.key = generateKey();
  if (remote.confirm === undefined) remote.confirm = DEFAULT_CONFIRM;
  cfg.remote = remote;
  writeFileSync(output, JSON.stringify(cfg, null, 2) + "\n", { mode: 0o600 });
  chmodSync(output, 0o600);
  console.log(`remote ${id} ${given ? "given" : "generated"}`);
} else if (action == "save") {
  const cfg = readJson(args[0]);
  const id = clientIdOf(cfg, args[0]);
  if (typeof cfg.remote?.key != "string") fail(`${args[0]}: no remote.key`);
  try { console.log(saveKey(id, cfg.remote.key)); } catch (e) { fail(`cannot keep the device key for ${id}: ${(e as Error).message}`); }
} else if (action == "path" && args[0]) {
  console.log(keyPath(args[0]));
} else {
  fail("usage: flash-key.js prepare IN OUT [--remote] | save CONFIG | path CLIENT_ID");
}
