// Swapping a set of Storage files (feature modules, mote-user.js) in with an update, and out again when
// its trial fails (module mote-swap). The boot guard (boot.ts) loads it only when the boot state names
// such a set, and lets it go right after: a board pays nothing for it at any other boot.
// Design and reasoning: docs/remote-protocol.md, "Files beside the bundle".
//
// The set is in the boot state, written by mote-remote-files when an update is committed:
//   f  names to install: each staged, checked, as "<name>.new"      d  names to delete
//   e  names of f that do not exist yet (a rollback deletes them)   w  how far the swap got:
//   1 making backups ("<name>.old" of every name of f and d that exists), 2 installing, 3 done.
// Every step can be done again from its start: during backups the files are all the old ones, so a
// backup cut short is made again from the same file; during installs every backup and every staged
// file is whole, so a copy cut short is made again. The state write that ends a step is atomic
// (bootstate.ts), so a power cut at any instant leaves either the old set or, once w is 3, the new one,
// and a rollback (w 2 or 3) brings back the old set from the backups.
import { writeState } from "./bootstate.js";

function names(s?: string): string[] { return s ? s.split(",") : []; }

// Copies Storage file a to b; a missing (never expected: the commit checked it) is an error, not an empty file.
function copy(S: any, a: string, b: string) {
  var t = S.read(a);
  if (t === undefined) throw new Error("no " + a);
  S.write(b, t);
}

/** Runs (or goes on with) the swap of the set in `st`, the boot state; writes w 2 and w 3 as it goes. */
export function forward(S: any, st: any) {
  var f = names(st.f), d = names(st.d), e = names(st.e), all = f.concat(d), i: number;
  if (!(st.w > 1)) {
    for (i = 0; i < all.length; i++) if (e.indexOf(all[i]) < 0) copy(S, all[i], all[i] + ".old");
    st.w = 2;
    writeState(S, st);
  }
  if (!(st.w > 2)) {
    for (i = 0; i < f.length; i++) copy(S, f[i] + ".new", f[i]);
    for (i = 0; i < d.length; i++) S.erase(d[i]);
    st.w = 3;
    writeState(S, st);
  }
}

/** Puts the old set back (the trial failed): from the backups, once installing may have begun. */
export function back(S: any, st: any) {
  var all = names(st.f).concat(names(st.d)), e = names(st.e), i: number;
  if (!(st.w > 1)) return; // nothing was installed: the files are still the old ones
  for (i = 0; i < all.length; i++) {
    if (e.indexOf(all[i]) >= 0) S.erase(all[i]);
    else copy(S, all[i] + ".old", all[i]);
  }
}

/** Erases the staged files and the backups of the set in `st` (after the state no longer names it). */
export function clean(S: any, st: any) {
  var all = names(st.f).concat(names(st.d)), i: number;
  for (i = 0; i < all.length; i++) { S.erase(all[i] + ".new"); S.erase(all[i] + ".old"); }
}
