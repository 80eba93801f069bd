// Diagnostics (feature module mote-diag): every diag_every seconds (default 300, like Tasmota's
// TelePeriod) and a second after each connect, one JSON on <base>/diag, QoS 0, not retained (a
// monitor wants fresh figures, and a retained one would outlive the board). Fields, all numbers but
// rssi (null without WiFi) and last_error (a string, "" while there was none):
//   vars_free, vars_total   process.memory() free / total variables
//   uptime                  seconds since the runtime started
//   rssi                    WiFi signal in dBm
//   reconnects, sent, received, dropped, oversize   the client's stats()
//   storage_free            bytes of Storage free
//   last_error              the client's last error event, "<code>: <message>"
// The Home Assistant feature's diagnostic entities read it. Returns the send function.
//
// Memory: module-level functions and state, no closure made at run time (each would stay for good).
import type { Mote } from "./mote.js";
import type { board as Board } from "../platform/board.js";
import { rssi } from "./wifi.js";

var M: Mote, B: typeof Board, last = "";

function send() {
  if (!M.up) return;
  var s = M.client.stats(), mem = B.memory(), r = rssi(M);
  M.client.publish(M.base + "/diag", JSON.stringify({
    vars_free: mem.free, vars_total: mem.total, uptime: Math.round(B.seconds() - M.t0),
    rssi: r === undefined ? null : r, reconnects: s.reconnects, sent: s.sent, received: s.received,
    dropped: s.dropped, oversize: s.oversize, storage_free: B.storageFree(), last_error: last,
  }), { qos: 0, retain: false });
}

function error(e: any) { last = e.code + ": " + e.message; }

function connected() { B.after(send, 1000); }

export function startDiag(m: Mote, b: typeof Board) {
  M = m; B = b;
  m.client.on("error", error);
  m.client.on("connected", connected);
  b.every(send, (m.c.diag_every || 300) * 1000);
  return send;
}
