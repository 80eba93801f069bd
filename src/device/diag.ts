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
// Returns the send function (the Home Assistant feature calls it after announcing).
import type { Mote } from "./mote.js";
import type { board as Board } from "../platform/board.js";

// The board's platform object, given by runtime.ts's feature() (no copy of board.ts in this bundle).
var board: typeof Board;
import { rssi } from "./wifi.js";

export function startDiag(m: Mote, b: typeof Board) {
  board = b;
  var c = m.client, last = "";
  function send() {
    if (!m.up) return;
    var s = c.stats(), mem = board.memory(), r = rssi(m);
    c.publish(m.base + "/diag", JSON.stringify({
      vars_free: mem.free, vars_total: mem.total, uptime: Math.round(board.seconds() - m.t0),
      rssi: r === undefined ? null : r, reconnects: s.reconnects, sent: s.sent, received: s.received,
      dropped: s.dropped, oversize: s.oversize, storage_free: board.storageFree(), last_error: last,
    }), { qos: 0, retain: false });
  }
  c.on("error", function (e: any) { last = e.code + ": " + e.message; });
  c.on("connected", function () { board.after(send, 1000); });
  board.every(send, (m.c.diag_every || 300) * 1000);
  return send;
}
