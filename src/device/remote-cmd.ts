// Remote commands (module mote-remote-cmd, loaded by mote-remote for each message and released right
// after): checks a command's HMAC and counter and hands it to the module that does the work, loaded
// from Storage in turn: mote-remote-cfg (config_get, config_set, released after the command) and
// mote-remote-ota (ota_begin and the chunks that follow; it stays loaded while a transfer is on),
// mote-remote-files (files, ota_commit: feature modules and mote-user.js beside the bundle).
// Wire protocol: docs/remote-protocol.md.
//
// A command is `<mac> <json>`; it is refused (reply ok:false, and a line on <base>/error) when the mac
// is not the HMAC of <json> under remote.key, when <json> is not an object, or when its n is not above
// the last accepted one (kept in the boot state in Storage, so a replay after a reboot is refused too).
import type { Remote } from "./remote.js";
import { hashOf, hmac } from "./hash.js";
import { readState, writeState } from "./bootstate.js";

export type { Remote };

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
  if (x.o && x.o.t) clearTimeout(x.o.t);
  x.o = x.h = undefined;
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
  if (op == "config_get") configGet(x, d);
  else if (op == "config_set") {
    w = "mote-remote-cfg";
    x.b.module(w).run(x, d);
    x.b.forget(w);
  } else if (op == "ota_begin") {
    if (x.o) endOta(x);
    // While the transfer is on, mote-remote hands every message to the OTA module (x.h).
    x.h = x.b.module(OTA);
    x.h.begin(x, d);
    if (!x.o) endOta(x);
  } else if (op == "files" || op == "ota_commit") {
    // Files beside the bundle: what the board has, and a commit of files staged by ota_begin with file.
    w = "mote-remote-files";
    x.b.module(w)[op == "files" ? "list" : "run"](x, d);
    x.b.forget(w);
  } else if (op == "restart") {
    st.r = "restart";
    writeState(x.S, st);
    reply(x, { n: d.n, op: op, ok: true });
    restart(x);
  } else refuse(x, d, "unknown op " + op);
}

// config_get: mote.json as it is stored, each secret's value replaced by "***", written into the
// reply as text: on a 1,600-variable board there is no room for the config as objects and then as
// JSON again. The secrets are the values of every "password" and "key" member (wifi.password,
// mqtt.password, mqtt.tls.key, remote.key: no other member of the config has those names).
function configGet(x: Remote, d: any) {
  var t = x.S.read("mote.json") || "{}", o = "", i = 0, j: number, k: number, a: number, b: number;
  for (;;) {
    a = t.indexOf('"password":"', i); b = t.indexOf('"key":"', i);
    j = a < 0 ? b : b < 0 ? a : Math.min(a, b);
    if (j < 0) break;
    j = t.indexOf(":", j) + 2;
    for (k = j; k < t.length && t.charAt(k) != '"'; k++) if (t.charAt(k) == "\\") k++;
    o += t.substring(i, j) + "***";
    i = k;
  }
  x.m.client.publish(x.m.base + "/reply", '{"n":' + d.n + ',"op":"config_get","ok":true,"config":' + o + t.substr(i) + "}", { qos: 1 });
}

/** A message on <base>/cmd or <base>/ota/+ (chunks reach here only when no transfer is on: ignored). */
export function handle(x: Remote, t: string, msg: string) {
  x.S = x.b.module("Storage");
  x.H = hashOf(x.b.module("crypto"));
  if (t == x.m.base + "/cmd") command(x, msg);
}
