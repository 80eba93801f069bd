// Remote management, the resident part (feature module mote-remote, loaded when mote.json has
// "remote"): subscribes <base>/cmd and <base>/ota/+ and deals with each message in one function, so an
// idle board pays only for that subscription handler and one small object. Protocol:
// docs/remote-protocol.md.
//
// Memory, on a 1,600-variable board (ESP8266), is what shapes it (measured on Espruino 2v29 for Linux,
// 1,600 variables: README, "Remote management"):
//   - The client holds an inbound message two or three times over (the socket's data, its buffer, the
//     message) while the handler runs: some 80 variables and 0.4 per byte, 360 for a config_set. So a
//     command is only kept here and run in a tick of its own, when just its text is left.
//   - A module required from Storage costs some 6-10 variables per function for as long as it is
//     loaded, so each step loads only what it needs and lets it go before the next one: mote-remote-cmd
//     checks a command's HMAC and counter and returns it; only then is the module that runs it loaded
//     (mote-remote-cfg for config_get / config_set, mote-remote-ota for ota_begin, mote-remote-files
//     for files / ota_commit: docs/remote-protocol.md, "Files beside the bundle").
//   - A firmware chunk is written here, with no module at all (this function's code stays in flash);
//     mote-remote-ota is loaded again only at the end, to check the image and put it on trial.
//   - A timer set by a module keeps that whole module in memory until it fires: the modules' timers
//     call this function instead (x.t), with a number saying what for.
import type { Mote } from "./mote.js";
import type { board as Board } from "../platform/board.js";

/**
 * What the command modules share: m, board (b); Storage (S) and the hash function (H), set by
 * mote-remote-cmd; q, a command waiting for its tick (k: how many times it waited for room); r, a restart on its way (restart() in
 * remote-cmd.ts); t, the handler below, for the modules' timers; the OTA transfer (o) while one is on:
 * {n command counter, h image hash, z size, f slot file, x next offset, c largest chunk, t its timer,
 * e once the last chunk is in ("") or one failed (why)}.
 */
export interface Remote { m: Mote; b: typeof Board; S?: any; H?: any; o?: any; q?: string; k?: number; r?: number; t?: (t: any) => void }

/** What the timers of mote-remote ask for: a command's tick, the transfer's end or stall, a restart. */
export var CMD_TICK = 1, OTA_TICK = 2, RESTART_TICK = 3;

var CMD = "mote-remote-cmd", OTA = "mote-remote-ota";

export function startRemote(m: Mote, b: typeof Board) {
  var x: Remote = { m: m, b: b };
  // (topic, message): a message; (one of the *_TICK numbers): a timer.
  function on(t: any, msg?: string) {
    var o = x.o, d: any, w: any, e = "";
    if (t === RESTART_TICK) {
      // Restarting once what was published has been acknowledged (at most 3 s).
      if (x.r!++ > 30 || !m.client.stats().inflight) b.reboot();
      else b.after(on, 100, RESTART_TICK);
      return;
    }
    if (t == m.base + "/cmd") {
      // A newer command replaces one still waiting (two in one tick, or while there is no room).
      if (!x.q) b.after(on, 0, CMD_TICK);
      x.q = msg;
      x.k = 0;
      return;
    }
    if (t === CMD_TICK) {
      msg = x.q;
      if (!msg) return;
      // Room for the modules and the copies of its text the command takes (some 300 variables for an
      // ota_begin, 450 for a config_set); else it waits for it, up to 8 s (a Home Assistant announce
      // takes some 300 for a second or two).
      if (b.memory().free < 250 + msg.length / 3 && x.k!++ < 16) {
        b.after(on, 500, CMD_TICK);
        return;
      }
      x.q = undefined;
      d = b.module(CMD).handle(x, msg);
      b.forget(CMD);
      if (!d) return;
      w = d.op == "ota_begin" ? OTA : d.op == "files" || d.op == "ota_commit" ? "mote-remote-files" : "mote-remote-cfg";
      b.module(w)[w == OTA ? "begin" : d.op == "files" ? "list" : "run"](x, d);
      b.forget(w);
      return;
    }
    if (!o) return;
    if (t === OTA_TICK) {
      if (o.e !== undefined) {
        // The last chunk is written, or one could not be: mote-remote-ota checks the image (or gives
        // up), in a tick of its own, once the chunk's message has gone from memory.
        b.module(OTA).end(x, o.e);
        b.forget(OTA);
      } else x.o = undefined;
      // Else no chunk for a minute (the host gave up, the connection is gone): the transfer is let go
      // from memory; Storage keeps it for a resume.
      return;
    }
    // <base>/ota/<offset>; our own acks (<base>/ota/ack) are not a number. Nothing more once the end is decided.
    w = +t.substr(m.base.length + 5);
    if (!(w >= 0) || o.e !== undefined) return;
    // (clearTimeout(undefined) throws on Espruino; clearTimeout() would clear every timer.)
    if (o.t) clearTimeout(o.t);
    o.t = b.after(on, 60000, OTA_TICK);
    // A chunk is written only at the offset expected, into the slot file created at full size by the
    // first one; any other is answered with the offset expected, so that the host goes back to it.
    if (w == o.x) {
      if (!msg!.length || msg!.length > o.c || w + msg!.length > o.z) e = "chunk of " + msg!.length + " bytes at " + w + " does not fit";
      else try {
        x.S.write(o.f, msg, w, o.z);
        o.x += msg!.length;
      } catch (err) {
        e = "Storage: " + (err as Error).message;
      }
      if (e || o.x == o.z) {
        o.e = e;
        clearTimeout(o.t);
        o.t = b.after(on, 10, OTA_TICK);
        return;
      }
    }
    m.client.publish(m.base + "/ota/ack", "" + o.x, { qos: 1 });
  }
  // Set here: Espruino does not hoist a function declaration above the code before it.
  x.t = on;
  m.client.subscribe([m.base + "/cmd", m.base + "/ota/+"], { qos: 1 }, on);
  return x;
}
