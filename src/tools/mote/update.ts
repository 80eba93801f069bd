// An update of the files beside a board's runtime bundle, seen from the host (`mote ota`): the feature
// modules that changed (those the board has whose built version differs), the user's mote-user.js, a
// file to delete; the room check before anything is sent; each file staged (a transfer of its own,
// checked by the board), then the set committed with the new bundle or alone, and the board's files
// listed again to check that it runs them. Board side: src/device/remote-files.ts and swap.ts; the
// protocol and why it is safe: docs/remote-protocol.md, "Files beside the bundle".
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { hashHex, type Alg, type Info } from "./protocol.js";
import { Remote, RemoteError, FILE_HASH_DIGITS, type BoardFiles, type OtaOptions, type OtaResult } from "./remote.js";

/** A file to put in the board's Storage under `name`. */
export interface FileUpdate { name: string; data: Buffer }

export interface UpdatePlan {
  /** A new runtime bundle; undefined: the bundle stays. */
  bundle?: Buffer;
  files: FileUpdate[];
  /** Storage names to delete (mote-user.js). */
  del: string[];
}

export interface UpdateResult {
  info: Info;
  /** The transfer of the bundle, when there was one. */
  bundle?: OtaResult;
  files: string[];
  del: string[];
}

/** The Storage headers and records the board counts for each file it writes (remote-files.ts, remote-ota.ts). */
const HEADER = 64, BUNDLE_EXTRA = 160;

const prefix = (alg: Alg, data: Buffer) => hashHex(alg, data).slice(0, FILE_HASH_DIGITS);

/** Module names the board has (mote-<name>, not mote-user.js, not the files of an update). */
export function boardModules(have: BoardFiles): string[] {
  return Object.keys(have.files).filter((n) => n != "mote-user.js" && !/\.(new|old)$/.test(n)).sort();
}

/**
 * The modules of `dir` (firmware/<name>.js as built) that the board has and that differ from its copy.
 * Modules the board does not have are not sent: flash.sh gave it those its config uses.
 */
export function changedModules(dir: string, have: BoardFiles, alg: Alg): FileUpdate[] {
  const out: FileUpdate[] = [];
  for (const name of boardModules(have)) {
    const file = join(dir, name + ".js");
    if (!existsSync(file)) continue;
    const data = readFileSync(file);
    if (prefix(alg, data) != have.files[name].hash) out.push({ name, data });
  }
  return out;
}

/**
 * Bytes of Storage the board needs for the plan, as it counts them: the bundle and its record; each
 * file staged (unless staged already, whole), its backup and its new copy; a backup of each file deleted.
 */
export function storageNeed(plan: UpdatePlan, have: BoardFiles, alg: Alg): number {
  let z = plan.bundle ? plan.bundle.length + BUNDLE_EXTRA : 0;
  for (const f of plan.files) {
    const staged = have.files[f.name + ".new"], old = have.files[f.name];
    if (!(staged && staged.size == f.data.length && staged.hash == prefix(alg, f.data))) z += f.data.length + HEADER;
    z += f.data.length + HEADER + (old ? old.size + HEADER : 0);
  }
  for (const n of plan.del) if (have.files[n]) z += have.files[n].size + HEADER;
  return z;
}

export interface UpdateOptions extends OtaOptions {
  /** Before each file's transfer. */
  onFile?: (name: string, bytes: number) => void;
  /** What the board has, when the caller asked already. */
  have?: BoardFiles;
}

/**
 * Runs the plan: refuses (code "refused", with the figures) when the board's Storage cannot hold it;
 * stages every file; then the bundle with the set, or the set alone (ota_commit). Resolves once the
 * board runs all of it; rejects like Remote.ota ("rollback": the board went back to its previous
 * bundle and files, the reason in errors).
 */
export async function runUpdate(remote: Remote, plan: UpdatePlan, opts: UpdateOptions = {}): Promise<UpdateResult> {
  const info0 = remote.info(), alg = info0.alg;
  const have = opts.have ?? await remote.files();
  const need = storageNeed(plan, have, alg), free = have.free + have.trash;
  if (need > free)
    throw new RemoteError(`no room: the update needs ${need} bytes of Storage (the files staged, their backups and new copies` +
      `${plan.bundle ? ", and the bundle" : ""}), the board has ${have.free} free${have.trash ? ` and ${have.trash} in the trash` : ""}: nothing was sent`,
    "refused", [], info0);
  const set: Record<string, string> = {};
  for (const f of plan.files) {
    set[f.name] = prefix(alg, f.data);
    const staged = have.files[f.name + ".new"];
    if (staged && staged.size == f.data.length && staged.hash == set[f.name]) continue; // from an earlier run: the commit checks it again
    opts.onFile?.(f.name, f.data.length);
    await remote.ota(f.data, { ...opts, file: f.name, files: undefined, del: undefined });
  }
  let info: Info, bundle: OtaResult | undefined;
  if (plan.bundle) {
    opts.onFile?.("the runtime bundle", plan.bundle.length);
    bundle = await remote.ota(plan.bundle, { ...opts, file: undefined, files: set, del: plan.del });
    info = bundle.info;
  } else {
    opts.onState?.("restarting", "the board swaps the files in and restarts on them");
    info = await remote.commitFiles(set, plan.del, opts.timeout);
  }
  // The board runs them: its files now are the ones sent.
  const now = await remote.files();
  const wrong = plan.files.filter((f) => now.files[f.name]?.hash != set[f.name]).map((f) => f.name)
    .concat(plan.del.filter((n) => now.files[n]));
  if (wrong.length)
    throw new RemoteError(`the board restarted (boot ${info.boot}) but its ${wrong.join(", ")} ${wrong.length > 1 ? "are" : "is"} not what was sent`, "mismatch", [], info);
  return { info, bundle, files: plan.files.map((f) => f.name), del: plan.del };
}
