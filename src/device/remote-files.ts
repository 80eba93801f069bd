// Files beside the runtime bundle over MQTT (module mote-remote-files): feature modules and the user's
// mote-user.js. Loaded by mote-remote-cmd for the commands `files` and `ota_commit`, and by
// mote-remote-ota for an ota_begin of the bundle that brings files with it; released after each.
// Each file is sent as a transfer of its own (ota_begin with `file`: mote-remote-ota stages it as
// "<name>.new" and checks its length and hash). This module lists what the board has, checks that a
// set is staged and fits, and commits it: the boot state names the set (the trial), the board restarts,
// and the boot guard swaps the files in (mote-swap) and back with the bundle when the trial fails.
// Wire protocol and reasoning: docs/remote-protocol.md, "Files beside the bundle".
import { reply, refuse, restart, type Remote } from "./remote-cmd.js";
import { readState, writeState } from "./bootstate.js";
import { hex } from "./hash.js";

// Hex digits of a file's hash in `files` and in a set: enough to tell versions apart (each transfer is
// checked against the whole hash given in its signed ota_begin).
var PREFIX = 16;

/** A Storage name an update may write: a module mote-<name> (at most 24 characters), or mote-user.js. */
export function named(n: any) {
  return typeof n == "string" && n.length <= 24 && (n == "mote-user.js" || /^mote-[a-z0-9-]+$/.test(n));
}

/**
 * files: every Storage file named mote-* (modules, mote-user.js, and the .new/.old of an update) with
 * its size and hash prefix, and the bytes free and in the trash. Written as text: no objects.
 */
export function list(x: Remote, d: any) {
  var S = x.S, l = S.list(/^mote-/), o = "", i: number, t: string;
  for (i = 0; i < l.length; i++) {
    t = S.read(l[i]);
    o += (i ? "," : "") + '"' + l[i] + '":[' + t.length + ',"' + hex(x.H(t)).substr(0, PREFIX) + '"]';
  }
  x.m.client.publish(x.m.base + "/reply", '{"n":' + d.n + ',"op":"files","ok":true,"files":{' + o + '},"free":' +
    S.getFree() + ',"trash":' + S.getStats().trashBytes + "}", { qos: 1 });
}

/**
 * Checks the set of d: `files` {name: hash prefix} to install, each staged whole with that hash;
 * `del` [names] to delete (mote-user.js only); a boot guard that can swap files. The error, or "".
 */
export function check(x: Remote, d: any): string {
  var S = x.S, f = d.files || {}, del = d.del || [], n: any, t: string, g = S.read(".bootcde");
  if (typeof f != "object" || Array.isArray(f) || !Array.isArray(del)) return "files must be {name: hash} and del a list of names";
  // The guard flash.sh installed before files could be updated does not know the set: it would boot the
  // new files without a way back.
  if (!g || g.indexOf("mote-swap") < 0 || S.read("mote-swap") === undefined) return "this board's boot guard cannot swap files: flash it again with flash.sh";
  for (n in f) {
    if (!named(n)) return n + ": not a file an update may change (mote-user.js or a module mote-<name>)";
    t = S.read(n + ".new");
    if (t === undefined) return n + ": not staged (send it with ota_begin and file first)";
    if (typeof f[n] != "string" || f[n].length < PREFIX || hex(x.H(t)).indexOf(f[n]) != 0) return n + ": the staged file does not have hash " + f[n];
  }
  for (n = 0; n < del.length; n++) if (del[n] != "mote-user.js") return del[n] + ": only mote-user.js can be deleted";
  return "";
}

/**
 * Storage bytes the swap of the set of d needs beyond the staged files: a backup of each file it
 * changes that exists, and the new copy of each file installed (flash is not renamed: a file is
 * written anew), headers included.
 */
export function need(S: any, d: any): number {
  var f = d.files || {}, del = d.del || [], z = 0, n: any, t: string;
  for (n in f) { z += S.read(n + ".new").length + 64; t = S.read(n); if (t !== undefined) z += t.length + 64; }
  for (n = 0; n < del.length; n++) { t = S.read(del[n]); if (t !== undefined) z += t.length + 64; }
  return z;
}

/** "" when `z` bytes fit in Storage (compacted first when that makes room), else the refusal with the figures. */
export function room(S: any, z: number, what: string): string {
  var free = S.getFree();
  if (z > free && S.getStats().trashBytes > 0) { S.compact(); free = S.getFree(); }
  return z > free ? "no room: " + what + " needs " + z + " bytes of Storage, " + free + " are free" : "";
}

/**
 * Commits the set of d (checked), with bundle slot s on trial (the running one when only files change):
 * leftovers of an earlier update go, then the boot state names the set. The caller replies and restarts.
 */
export function commit(x: Remote, d: any, s: string) {
  var S = x.S, f: string[] = [], e: string[] = [], del: string[] = [], l = S.list(/\.new$/).concat(S.list(/\.old$/)), n: any, i: number, st: any;
  for (n in d.files) { f.push(n); if (S.read(n) === undefined) e.push(n); }
  for (i = 0; i < (d.del || []).length; i++) if (S.read(d.del[i]) !== undefined) del.push(d.del[i]);
  for (i = 0; i < l.length; i++) if (l[i].substr(-4) == ".old" || f.indexOf(l[i].slice(0, -4)) < 0) S.erase(l[i]);
  st = readState(S);
  st.t = "ota"; st.s = s; st.k = 0; st.c = x.m.c.remote.confirm || 60; st.w = 1;
  st.f = f.join(); st.d = del.join(); st.e = e.join();
  delete st.r; delete st.why;
  writeState(S, st);
}

/** ota_commit {files, del}: swaps in files already staged (the bundle stays), on trial like a new bundle. */
export function run(x: Remote, d: any) {
  var S = x.S, e = !x.m.g ? "this board boots without the boot guard: flash it again with flash.sh" :
    readState(S).t ? "a new bundle or config is still on trial" : check(x, d);
  if (!e && !Object.keys(d.files || {}).length && !(d.del || []).some(function (m: string) { return S.read(m) !== undefined; })) e = "nothing to change: no files, and nothing of del is there";
  if (!e) e = room(S, need(S, d), "the swap of the files");
  if (e) return refuse(x, d, e);
  commit(x, d, x.m.g.s);
  reply(x, { n: d.n, op: d.op, ok: true });
  restart(x);
}
