// Entry of firmware/boot.js, the boot guard: the board's .bootcde, written by flash.sh and never by an
// update. It picks the runtime bundle to run (Storage file mote.a or mote.b, evaluated straight from
// flash), and while a new bundle or a new config is on trial it watches it: the trial fails when the
// bundle throws at boot, when the board does not reach the broker within `c` seconds, or when the
// board resets more than TRIES times before that. A failed trial goes back to the previous bundle or
// config (restoring mote.json from mote.prev) and restarts. The runtime calls moteBoot.ok() once it is
// online; that confirms the trial. See docs/remote-protocol.md, "Storage layout and boot guard".
//
// An update that brings files beside the bundle (feature modules, mote-user.js) names them in the boot
// state (f, d): the guard then swaps them in before the trial, and back with the bundle when the trial
// fails, through module mote-swap, loaded only then (swap.ts).
//
// global moteBoot = {r, w, s, ok?}: r why this boot happened (power, ota, config, rollback, restart),
// w with r "rollback" what failed, s the slot running; ok() is there while something is to confirm.
import { readState, writeState } from "../device/bootstate.js";

declare var global: any;

var TRIES = 3;

function guard() {
  var S = require("Storage"), st = readState(S), B: any = global.moteBoot = { r: st.r || "power", w: st.why, s: st.ok || "a" },
    tm: any, code: any;

  // The files of an update (state s has f or d): mote-swap's step w; what went wrong, if anything.
  // Nothing here may throw: the guard would stop and the board not boot. Modules.removeCached throws
  // for a module that is not loaded, hence only when require gave it.
  function files(s: any, w: string) {
    var e: any, m: any;
    if (s.f || s.d) {
      try { (m = require("mote-swap"))[w](S, s); } catch (x) { e = "files: " + (x as Error).message; print("mote boot: " + e); }
      if (m) Modules.removeCached("mote-swap");
    }
    return e;
  }
  // Back to the previous bundle/config. The decision is written first (rb), then the config and the
  // files restored, then the final state: a power cut in between makes the next boot finish the same
  // rollback. The backups go only once the state no longer names them.
  function rollback(why: string) {
    var o: any;
    if (!st.rb) { st.rb = why; writeState(S, st); }
    if (st.t == "config") { code = S.read("mote.prev"); if (code) S.write("mote.json", code); }
    files(o = st, "back");
    st = { g: st.g, n: st.n, ok: st.ok, r: "rollback", why: st.rb };
    writeState(S, st);
    files(o, "clean");
    B.r = "rollback"; B.w = st.why; B.s = st.ok || "a";
  }
  function fail(why: string) {
    print("mote boot: " + why + ": going back");
    rollback(why);
    E.reboot();
  }

  if (st.rb) rollback(st.rb);
  else if (st.t) {
    st.k = (st.k || 0) + 1;
    if (st.k > TRIES) rollback("reset " + TRIES + " times before online");
    else if (writeState(S, st), code = files(st, "forward")) rollback(code);
    else {
      B.r = st.t;
      if (st.t == "ota") B.s = st.s;
      tm = setTimeout(function () { fail("not online within " + st.c + " s"); }, (st.c || 60) * 1000);
      process.on("uncaughtException", function (e: any) { print("Uncaught " + e); fail("threw: " + (e && e.message)); });
    }
  }
  if (st.t || st.r) B.ok = function () {
    var o: any;
    if (tm) { clearTimeout(tm); process.removeAllListeners("uncaughtException"); }
    delete B.ok;
    o = st = readState(S); // mote-remote may have written since
    st = { g: st.g, n: st.n, ok: st.t == "ota" ? st.s : st.ok };
    writeState(S, st);
    files(o, "clean"); // confirmed: the backups of the files go
  };
  // A bundle that throws while it is evaluated.
  B.x = function (e: any) {
    print("Uncaught " + e);
    if (st.t) fail("threw at boot: " + (e && e.message));
  };
}

guard();
// The bundle is evaluated here, at the top level: there Espruino keeps the text of its functions in
// flash (the Storage string); evaluated inside a function it costs some 230 variables more (measured
// on the 1600-variable build). Indirect eval, so that the build's minifier leaves the names alone.
try {
  (0, eval)(require("Storage").read("mote." + global.moteBoot.s));
} catch (e) {
  global.moteBoot.x(e);
}
delete global.moteBoot.x;
