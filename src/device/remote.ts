// Remote management, the resident part (feature module mote-remote, loaded when mote.json has
// "remote"): subscribes <base>/cmd and <base>/ota/+, checks each command's HMAC and counter, and hands
// it to the module that does the work, loaded from Storage on first use and released when done:
// mote-remote-cfg (config_get, config_set) and mote-remote-ota (ota_begin and the chunks that follow).
// Wire protocol: docs/remote-protocol.md. Kept small: one subscription handler and a context object.
//
// A command is `<mac> <json>`; it is refused (reply ok:false, and a line on <base>/error) when the mac
// is not the HMAC of <json> under remote.key, when <json> is not an object, or when its n is not above
// the last accepted one (kept in the boot state in Storage, so a replay after a reboot is refused too).
import type { Mote } from "./mote.js";
import type { board as Board } from "../platform/board.js";
import { hashOf, hmac } from "./hash.js";
import { readState, writeState } from "./bootstate.js";

/** What the command modules get: m, board (b), Storage (S), hash function (H), the OTA transfer (o). */
export interface Remote { m: Mote; b: typeof Board; S: any; H: (s: string) => ArrayBuffer; o?: any }

var OTA = "mote-remote-ota";

/** Publishes a reply (QoS 1, not retained). */
export function reply(x: Remote, r: any) {
  x.m.client.publish(x.m.base + "/reply", JSON.stringify(r), { qos: 1 });
}

/** A refusal: the reply and a line on <base>/error. */
export function refuse(x: Remote, d: any, why: string) {
  reply(x, { n: d && d.n, op: d && d.op, ok: false, err: [why] });
  x.m.client.publish(x.m.base + "/error", "remote: refused " + (d && d.op || "command") + ": " + why, { qos: 1 });
}

/** Restarts once what was published has been acknowledged (at most 3 s). */
export function restart(x: Remote, k?: number) {
  x.b.after(function () {
    if ((k || 0) > 30 || !x.m.client.stats().inflight) x.b.reboot();
    else restart(x, (k || 0) + 1);
  }, 100);
}

/** Drops the OTA transfer (the module and its state) from RAM; Storage keeps it for a resume. */
export function endOta(x: Remote) {
  x.o = undefined;
  x.b.forget(OTA);
}

// Equal strings, in a time that does not depend on where they first differ.
function same(a: string, b: string) {
  var d = a.length ^ b.length, i: number;
  for (i = 0; i < a.length; i++) d |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return !d;
}

function command(x: Remote, msg: string) {
  var i = msg.indexOf(" "), j = msg.substr(i + 1), d: any, st: any, op: string, w: string;
  try { d = JSON.parse(j); } catch (e) { /* refused below */ }
  if (i < 0 || !same(msg.substr(0, i), hmac(x.H, x.m.c.remote.key, j))) return refuse(x, d, "bad mac");
  if (!d || typeof d != "object" || Array.isArray(d)) return refuse(x, d = undefined, "not a JSON object");
  st = readState(x.S);
  if (!(d.n > (st.n || 0))) return refuse(x, d, "stale counter " + d.n + " (last accepted " + (st.n || 0) + ")");
  st.n = d.n;
  writeState(x.S, st);
  op = d.op;
  if (op == "config_get" || op == "config_set") {
    w = "mote-remote-cfg";
    x.b.module(w).run(x, d);
    x.b.forget(w);
  } else if (op == "ota_begin") {
    if (x.o) endOta(x);
    x.b.module(OTA).begin(x, d);
    if (!x.o) x.b.forget(OTA);
  } else if (op == "restart") {
    st.r = "restart";
    writeState(x.S, st);
    reply(x, { n: d.n, op: op, ok: true });
    restart(x);
  } else refuse(x, d, "unknown op " + op);
}

export function startRemote(m: Mote, b: typeof Board) {
  var x: Remote = { m: m, b: b, S: b.module("Storage"), H: hashOf(b.module("crypto")) }, c = m.client, t = m.base + "/cmd";
  c.subscribe([t, m.base + "/ota/+"], { qos: 1 }, function (topic: string, msg: string) {
    var o = +topic.substr(t.length + 1);
    if (topic == t) command(x, msg);
    // Not our own acks (<base>/ota/ack, NaN here): a chunk, when a transfer is on.
    else if (x.o && o >= 0) b.module(OTA).chunk(x, o, msg);
  });
  // A dropped connection ends the transfer in RAM; the host resumes it with ota_begin.
  c.on("disconnected", function () { if (x.o) endOta(x); });
  return x;
}
