// Config over MQTT (module mote-remote-cfg, loaded by mote-remote for config_get and config_set once
// mote-remote-cmd has checked the command, and released after). config_set checks the new
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

// config_get: mote.json as it is stored, each secret's value replaced by "***", written into the
// reply as text: on a 1,600-variable board there is no room for the config as objects and then as
// JSON again. The reply is built in one string (Espruino appends to a string in place with +=), read
// from the file in Storage (flash) a piece at a time. The secrets are the values of every "password"
// and "key" member (wifi.password, mqtt.password, mqtt.tls.key, remote.key: no other member of the
// config has those names).
function configGet(x: Remote, d: any) {
  var t = x.S.read("mote.json") || "{}", r = '{"n":' + d.n + ',"op":"config_get","ok":true,"config":', i = 0, j: number, k: number, a: number, b: number;
  for (;;) {
    a = t.indexOf('"password":"', i); b = t.indexOf('"key":"', i);
    j = a < 0 ? b : b < 0 ? a : Math.min(a, b);
    if (j < 0) j = k = t.length;
    else {
      j = t.indexOf(":", j) + 2;
      for (k = j; k < t.length && t.charAt(k) != '"'; k++) if (t.charAt(k) == "\\") k++;
    }
    for (; i < j; i += 64) r += t.substring(i, Math.min(i + 64, j));
    if (j == t.length) break;
    r += "***";
    i = k;
  }
  r += "}";
  x.m.client.publish(x.m.base + "/reply", r, { qos: 1 });
}

/** config_get or config_set (d.op), checked by mote-remote-cmd. */
export function run(x: Remote, d: any) {
  if (d.op == "config_get") return configGet(x, d);
  var S = x.S, text = S.read("mote.json"), cur: any, c = d.config, e: string[] = [], st: any;
  if (!x.m.g) e.push("this board boots without the boot guard (no way back from a bad config): flash it again with flash.sh");
  else if (readState(S).t) e.push("a new bundle or config is still on trial");
  else if (!isObj(c)) e.push("config: must be a JSON object");
  else {
    secrets(c, function (o, k, p) {
      if (o[k] != "***") return;
      // The running config is parsed only when a secret is kept (and let go before the validator runs).
      o[k] = get(p, cur || (cur = S.readJSON("mote.json", 1) || {}));
      if (o[k] === undefined) e.push(p + ": \"***\" keeps the current value, but there is none");
    });
    cur = undefined;
    // No copy (no room for one on a small board): the validator deletes only what it reports, and a
    // config with errors is not kept.
    if (!e.length) e = validateConfig(c, S.readJSON("mote.board", 1) || (x.b.wifi() ? undefined : { wifi: false }));
  }
  if (e.length) {
    // Said on <base>/error too, as every refused command is: whoever watches the board learns why.
    reply(x, { n: d.n, op: d.op, ok: false, err: e });
    return x.m.client.publish(x.m.base + "/error", "remote: refused config_set: " + e.join("; "), { qos: 1 });
  }
  S.write("mote.prev", text || "{}");
  st = readState(S);
  st.t = "config"; st.k = 0; st.c = x.m.c.remote.confirm || 60;
  delete st.r; delete st.why;
  writeState(S, st);
  S.write("mote.json", JSON.stringify(c));
  reply(x, { n: d.n, op: d.op, ok: true });
  restart(x);
}
