// Config over MQTT (module mote-remote-cfg, loaded by mote-remote-cmd for config_set and released;
// config_get is in mote-remote-cmd itself). config_set checks the new
// config with the board's own validator and board file (mote.board) before it touches Storage: refused,
// the reply lists the validator's errors and the board goes on as it was. Accepted: the running config
// is kept as mote.prev, the boot state puts the new one on trial, mote.json is written and the board
// restarts on it; the boot guard goes back to mote.prev when the board is not online within
// remote.confirm seconds (boot.ts). A secret given as "***" keeps its current value.
import { reply, restart, type Remote } from "./remote-cmd.js";
import { readState, writeState } from "./bootstate.js";
import { validateConfig } from "./config.js";

var SECRETS = ["wifi", "password", "mqtt", "password", "remote", "key", "mqtt", "tls"];

function isObj(v: any) { return v !== null && typeof v == "object" && !Array.isArray(v); }

// Calls f(object, key, path) for each secret the config has (mqtt.tls: its key when it is an object).
function secrets(c: any, f: (o: any, k: string, p: string) => void) {
  var i: number, o: any, k: string;
  for (i = 0; i < SECRETS.length; i += 2) {
    o = c[SECRETS[i]]; k = SECRETS[i + 1];
    if (k == "tls") { o = isObj(o) && o.tls; k = "key"; }
    if (isObj(o) && o[k] !== undefined) f(o, k, (i == 6 ? "mqtt.tls" : SECRETS[i]) + "." + k);
  }
}

function get(path: string, c: any) {
  var l = path.split("."), i: number;
  for (i = 0; i < l.length && isObj(c); i++) c = c[l[i]];
  return i == l.length ? c : undefined;
}

export function run(x: Remote, d: any) {
  var S = x.S, text = S.read("mote.json"), cur = S.readJSON("mote.json", 1) || {}, c = d.config, e: string[] = [], st: any;
  if (!x.m.g) e.push("this board boots without the boot guard (no way back from a bad config): flash it again with flash.sh");
  else if (readState(S).t) e.push("a new bundle or config is still on trial");
  else if (!isObj(c)) e.push("config: must be a JSON object");
  else {
    secrets(c, function (o, k, p) {
      if (o[k] != "***") return;
      o[k] = get(p, cur);
      if (o[k] === undefined) e.push(p + ": \"***\" keeps the current value, but there is none");
    });
    cur = undefined;
    // No copy (no room for one on a small board): the validator deletes only what it reports, and a
    // config with errors is not kept.
    if (!e.length) e = validateConfig(c, S.readJSON("mote.board", 1) || (x.b.wifi() ? undefined : { wifi: false }));
  }
  if (e.length) return reply(x, { n: d.n, op: d.op, ok: false, err: e });
  S.write("mote.prev", text || "{}");
  st = readState(S);
  st.t = "config"; st.k = 0; st.c = x.m.c.remote.confirm || 60;
  delete st.r; delete st.why;
  writeState(S, st);
  S.write("mote.json", JSON.stringify(c));
  reply(x, { n: d.n, op: d.op, ok: true });
  restart(x);
}
