// Firmware over MQTT (module mote-remote-ota, loaded by mote-remote for ota_begin and again at the end
// of the transfer, and released after each: the chunks in between are written by mote-remote itself,
// which holds no module while they come). The new runtime bundle goes into the bundle slot that is not
// running (Storage mote.a or mote.b), created at its full size by the first chunk and filled at each
// chunk's offset: a chunk is written only at the offset expected, then the next offset is acknowledged
// on <base>/ota/ack, so at most `window` chunks are on their way and never the whole image in RAM.
// mote.ota records the transfer ({h hash, z size, f slot file, v version}): after a dropped
// connection or a reboot, ota_begin with the same hash resumes at the first byte still erased (0xFF;
// flash is filled in order, so every byte before it is written: an image byte that is 0xFF itself
// only makes the resume start earlier, writing the same bytes again). When all bytes are in, the
// length and the hash of the whole file are checked; only then is the slot put on trial in the boot
// state and the board restarted: the boot guard runs it and goes back when it fails (boot.ts).
//
// Files beside the bundle (docs/remote-protocol.md, "Files beside the bundle"): ota_begin with `file`
// (a module mote-<name>, or mote-user.js) stages that file as "<name>.new" the same way, and the end of
// it only replies (staged); an ota_begin of the bundle with `files`/`del` commits that set with the
// bundle (mote-remote-files), and ota_commit commits a set alone.
import { reply, refuse, restart, type Remote } from "./remote-cmd.js";
import { readState, writeState } from "./bootstate.js";
import { hex } from "./hash.js";

var META = "mote.ota", FILES = "mote-remote-files";

// The transfer is over (or replaced by a new ota_begin): its state goes from RAM; Storage keeps a
// transfer that did not end, for a resume.
function endOta(x: Remote) {
  if (x.o && x.o.t) clearTimeout(x.o.t);
  x.o = undefined;
}

/**
 * ota_begin {n, size, hash, version, file?, files?, del?}: refuses, or starts/resumes the transfer (x.o)
 * and replies next/chunk/window.
 */
export function begin(x: Remote, d: any) {
  var S = x.S, g = x.m.g, f: string, meta: any, code: any, next = 0, need: number, free: number, fm: any, e = "", z = 0,
    small = x.b.memory().total < 3000, chunk = Math.min(small ? 256 : 1024, x.m.c.limits.max_packet - x.m.base.length - 24);
  endOta(x);
  if (!g) return refuse(x, d, "this board boots without the boot guard: flash it again with flash.sh");
  if (readState(S).t) return refuse(x, d, "a new bundle or config is still on trial");
  if (!(d.size > 0 && d.size % 1 == 0) || typeof d.hash != "string" || !/^[0-9a-f]+$/.test(d.hash) ||
    d.hash.length != x.H("").byteLength * 2) return refuse(x, d, "ota_begin needs size (bytes) and hash (lowercase hex)");
  if (d.file !== undefined) {
    fm = x.b.module(FILES);
    if (!fm.named(d.file)) e = "file " + d.file + ": not one an update may change (mote-user.js or a module mote-<name>)";
    // Staged, then a backup of the file it replaces and its new copy when swapped in (remote-files.ts).
    z = d.size + 128 + ((S.read(d.file) || "").length);
    f = d.file + ".new";
  } else {
    f = "mote." + (g.s == "a" ? "b" : "a");
    // The bundle with files already staged: the set is checked now, and its swap needs room too.
    if (d.files || d.del) { fm = x.b.module(FILES); e = fm.check(x, d); z = e ? 0 : fm.need(S, d); }
  }
  // Let go only when loaded: Espruino's Modules.removeCached throws for a module not in its cache.
  if (fm) { fm = undefined; x.b.forget(FILES); }
  if (e) return refuse(x, d, e);
  meta = S.readJSON(META, 1);
  code = S.read(f);
  if (meta && meta.h == d.hash && meta.z == d.size && meta.f == f && code && code.length == d.size) {
    next = code.indexOf("\xff");
    if (next < 0) next = d.size;
  } else if (d.file && code && code.length == d.size && hex(x.H(code)) == d.hash) {
    next = d.size; // staged whole before (another file's transfer has replaced mote.ota since)
  } else {
    S.erase(f);
    S.erase(META);
    // The image, its file header and mote.ota (which is smaller than 128 bytes with its header).
    // With files: what their swap needs as well (z).
    need = d.size + 160 + z;
    free = S.getFree();
    if (need > free && S.getStats().trashBytes > 0) { S.compact(); free = S.getFree(); }
    if (need > free) return refuse(x, d, "no room: " + (d.file ? d.file + " of " : "the image of ") + d.size + " bytes needs " + need +
      " bytes of Storage" + (z ? " (with the swap of the files: backups and new copies)" : "") + ", " + free + " are free");
    S.write(META, JSON.stringify({ h: d.hash, z: d.size, f: f, v: d.version }));
  }
  code = undefined;
  x.o = { n: d.n, h: d.hash, z: d.size, f: f, x: next, c: chunk };
  // Only when there are: each field costs variables for the whole transfer.
  if (d.file) x.o.file = d.file;
  if (d.files || d.del) { x.o.fs = d.files; x.o.dl = d.del; }
  reply(x, { n: d.n, op: d.op, ok: true, next: next, chunk: chunk, window: small ? 2 : 4 });
  if (next == d.size) finish(x);
}

/** The last chunk is written (e ""), or a chunk could not be (e says why): check the image, or give up. */
export function end(x: Remote, e: string) {
  if (e) fail(x, e);
  else finish(x);
}

// The transfer failed: the staged file goes, the running bundle stays.
function fail(x: Remote, e: string) {
  x.S.erase(x.o.f);
  x.S.erase(META);
  reply(x, { n: x.o.n, op: "ota_end", ok: false, err: [e] });
  x.m.client.publish(x.m.base + "/error", "remote: update refused: " + e, { qos: 1 });
  endOta(x);
}

// All bytes in: check the length and the hash of the whole file, then put the slot on trial and restart.
function finish(x: Remote) {
  var o = x.o, S = x.S, code = S.read(o.f), h: string, st: any;
  if (!code || code.length != o.z) return fail(x, "length " + (code ? code.length : 0) + " instead of " + o.z);
  h = hex(x.H(code));
  code = undefined;
  if (h != o.h) return fail(x, "hash mismatch: the image hashes to " + h + ", ota_begin said " + o.h);
  // A file: staged, and nothing else until the bundle or ota_commit commits it.
  if (o.file) {
    S.erase(META);
    reply(x, { n: o.n, op: "ota_end", ok: true, staged: o.file });
    return endOta(x);
  }
  if (o.fs || o.dl) {
    x.b.module(FILES).commit(x, { files: o.fs || {}, del: o.dl }, o.f.charAt(5));
    x.b.forget(FILES);
  } else {
    st = readState(S);
    st.t = "ota"; st.s = o.f.charAt(5); st.k = 0; st.c = x.m.c.remote.confirm || 60;
    delete st.r; delete st.why;
    writeState(S, st);
  }
  S.erase(META);
  reply(x, { n: o.n, op: "ota_end", ok: true });
  endOta(x);
  restart(x);
}
