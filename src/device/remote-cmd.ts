// Remote commands (module mote-remote-cmd, loaded by mote-remote for each command and released before
// the command runs): checks a command's HMAC and counter, runs `restart` itself, and returns the others
// to mote-remote, which then loads the module that does the work: mote-remote-cfg (config_get,
// config_set), mote-remote-ota (ota_begin) or mote-remote-files (files, ota_commit: feature modules and
// mote-user.js beside the bundle). Wire protocol: docs/remote-protocol.md.
//
// A command is `<mac> <json>`; it is refused (reply ok:false, and a line on <base>/error) when the mac
// is not the HMAC of <json> under remote.key, when <json> is not an object, or when its n is not above
// the last accepted one (kept in the boot state in Storage, so a replay after a reboot is refused too).
import { RESTART_TICK, type Remote } from "./remote.js";
import { hashOf, hmac } from "./hash.js";
import { readState, writeState } from "./bootstate.js";

export type { Remote };

/** Publishes a reply (QoS 1, not retained). */
export function reply(x: Remote, r: any) {
  x.m.client.publish(x.m.base + "/reply", JSON.stringify(r), { qos: 1 });
}

/** A refusal: the reply and a line on <base>/error. */
export function refuse(x: Remote, d: any, why: string) {
  reply(x, { n: d && d.n, op: d && d.op, ok: false, err: [why] });
  x.m.client.publish(x.m.base + "/error", "remote: refused " + (d && d.op || "command") + ": " + why, { qos: 1 });
}

/** Restarts once what was published has been acknowledged (at most 3 s): mote-remote's timer does it. */
export function restart(x: Remote) {
  x.r = 1;
  x.b.after(x.t!, 100, RESTART_TICK);
}

// Equal strings, in a time that does not depend on where they first differ.
function same(a: string, b: string) {
  var d = a.length ^ b.length, i: number;
  for (i = 0; i < a.length; i++) d |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return !d;
}

/**
 * A message on <base>/cmd: the command as an object when it is one that another module runs (config_get,
 * config_set, ota_begin) and its mac and counter are good (the counter is then stored); else undefined
 * (refused, or a restart, done here). The mac is checked before the JSON is parsed, so that the
 * command's text, the HMAC's copy of it and the parsed object are never all in memory at once (a
 * config_set carries a whole config).
 */
export function handle(x: Remote, msg: string): any {
  var S = x.S = x.b.module("Storage"), i = msg.indexOf(" "), j: any = msg.substr(i + 1), ok: boolean, d: any, st: any;
  x.H = hashOf(x.b.module("crypto"));
  ok = i > 0 && same(msg.substr(0, i), hmac(x.H, x.m.c.remote.key, j));
  try { d = JSON.parse(j); } catch (e) { /* refused below */ }
  j = undefined;
  if (!ok) return refuse(x, d, "bad mac");
  if (!d || typeof d != "object" || Array.isArray(d)) return refuse(x, undefined, "not a JSON object");
  st = readState(S);
  if (!(d.n > (st.n || 0))) return refuse(x, d, "stale counter " + d.n + " (last accepted " + (st.n || 0) + ")");
  st.n = d.n;
  if (d.op == "restart") st.r = "restart";
  writeState(S, st);
  if (d.op == "restart") {
    reply(x, { n: d.n, op: d.op, ok: true });
    restart(x);
  } else if (d.op == "config_get" || d.op == "config_set" || d.op == "ota_begin" || d.op == "files" || d.op == "ota_commit") return d;
  else refuse(x, d, "unknown op " + d.op);
}
