// The boot state: which runtime bundle is confirmed, a try in progress (a new bundle or a new config),
// why the board restarted, and the last accepted remote command counter. Read by the boot guard
// (firmware/boot.js, the board's .bootcde) at every boot and written by it and by mote-remote.
// Layout and the reasoning behind it: docs/remote-protocol.md, "Storage layout and boot guard".
//
// A power cut can land in the middle of any Storage write: Espruino erases the old file, writes the
// new header (the file then exists, full of 0xFF) and then the data. So the state is kept twice, in
// mote.s0 and mote.s1, each a flat JSON record with a generation g; the valid record with the highest
// g is the state, and a write always goes to the file that does NOT hold it. A torn write leaves that
// file unreadable (JSON cut short, or 0xFF bytes) and the other one still holds the previous state.
//
// Record fields (all optional but g):
//   g   generation           ok  confirmed bundle slot ("a" | "b": Storage file mote.a / mote.b)
//   n   last accepted command counter
//   t   a try in progress: "ota" (bundle slot s on trial) or "config" (mote.json new, mote.prev old)
//   s   the slot on trial    k   boots of the try so far      c   seconds it has to reach online
//   rb  a rollback decided and not yet finished (its reason): the guard finishes it at boot
//   r   why this boot happened, for <base>/info ("restart", "rollback", ...), cleared once reported
//   why with r "rollback": what failed

/** The current boot state from Storage (`S` is require("Storage")); {g: 0} when there is none. */
export function readState(S: any): any {
  var a = S.readJSON("mote.s0", 1), b = S.readJSON("mote.s1", 1);
  if (!a || typeof a.g != "number") a = { g: 0 };
  if (b && typeof b.g == "number" && b.g > a.g) a = b;
  return a;
}

/** Writes `st` as the next generation, into the file that does not hold the current one. */
export function writeState(S: any, st: any) {
  st.g++;
  S.write("mote.s" + (st.g & 1), JSON.stringify(st));
}
