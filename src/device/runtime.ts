// The device runtime: read and validate mote.json -> join WiFi -> connect MQTT with the will ->
// birth "online" (or "error" with the config errors) -> sensors publish, actuators obey.
// A bad config does not brick the board: the errors are logged, the sensors and actuators they
// name are skipped, and when WiFi and broker settings are usable the device still connects and
// reports the errors on <status> / <base>/error.
import { Client } from "../session/client.js";
import { platform } from "../platform/net.js";
import { board } from "../platform/board.js";
import { validateConfig, applyDefaults } from "./config.js";
import { joinWifi } from "./wifi.js";
import { startSensors } from "./sensors.js";
import { startActuators } from "./actuators.js";
import { will, online, offline } from "./status.js";
import { VERSION } from "./version.js";
import type { Mote } from "./mote.js";

export type { Mote };

/**
 * Loads an optional feature: the Storage module "mote-<name>" (firmware/mote-<name>.js, built from
 * src/firmware/mote-<name>.ts) and calls its start(m, board). A board pays variables only for the features
 * its config names. A missing or throwing module is reported, never fatal: the board stays up.
 */
export function feature(m: Mote, name: string): any {
  var f: any;
  try {
    // The board is passed in: a feature importing board.ts would carry its own copy of it.
    f = board.module("mote-" + name).start(m, board);
  } catch (x) {
    m.errors.push(name + ": " + (x as Error).message);
    m.log(name + ": " + (x as Error).message);
  }
  return (m.f || (m.f = {}))[name] = f;
}


// mqtt.servers with each port defaulted to mqtt.port (1883, or 8883 with TLS), as one host would be.
function servers(q: any): any {
  var l = q.servers, i: number;
  for (i = 0; l && i < l.length; i++) if (l[i] && !l[i].port) l[i].port = q.port;
  return l;
}

// At every connect: the identity message (module mote-info, released right after), then, when the boot
// guard has something to confirm (a new bundle or config on trial, a restart reason to clear), its ok().
function connected(m: Mote) {
  try {
    board.module("mote-info").start(m, board);
  } catch (x) {
    m.log("info: " + (x as Error).message);
  }
  board.forget("mote-info");
  if (m.g && m.g.ok) m.g.ok();
}

/** Starts the runtime; `g` is the boot guard's global moteBoot (undefined when booted without it). */
export function start(g?: any): Mote {
  var c = board.readJSON("mote.json"), b = board.readJSON("mote.board"),
    m: any = { t0: board.seconds(), up: false, v: VERSION, g: g, log: function (s: string) { console.log("mote: " + s); } },
    e: string[], i: number, q: any, client: Client;
  if (!b) m.log("no mote.board in Storage: pins not checked");
  // Without a board file, what the board has tells whether WiFi settings are needed.
  e = c === undefined ? ["mote.json: missing or not valid JSON"] : validateConfig(c, b || (board.wifi() ? undefined : { wifi: false }));
  if (e.length && e[0].indexOf("config:") == 0) c = {};
  c = applyDefaults(c || {}, board.serial());
  m.c = c; m.base = c.base; m.errors = e; m.bad = e.join("|");
  // The closures made below keep this scope alive: let the board's pin table go.
  b = undefined;
  for (i = 0; i < e.length; i++) m.log("config: " + e[i]);
  q = c.mqtt;
  if (!q.host && !q.servers) { m.log("no usable broker in mote.json: not connecting"); return m; }
  try {
    client = m.client = new Client(platform, {
      host: q.host, port: q.port, servers: servers(q), tls: q.tls, username: q.username, password: q.password, client_id: q.client_id,
      keep_alive: q.keep_alive, clean_session: q.clean_session, will: will(m),
      inflight: c.limits.inflight, queue: c.limits.queue, max_packet: c.limits.max_packet,
    });
  } catch (x) {
    m.log("mqtt: " + (x as Error).message);
    return m;
  }
  client.on("connected", function () { m.up = true; m.log("connected to " + client._host + ":" + client._port); online(m); connected(m); });
  client.on("disconnected", function (r: string) { m.up = false; m.log("disconnected: " + r); });
  client.on("error", function (x: any) { m.log("mqtt: " + x.message); });
  m.stop = function () { offline(m); };
  startActuators(m);
  startSensors(m);
  // Optional features. diag is on by default (300 s), but only where mote-diag is in Storage
  // (flash.sh uploads it) unless diag_every is set: a board flashed without it runs as before.
  i = c.diag_every;
  if (i !== 0 && (i || board.readText("mote-diag") !== undefined)) feature(m, "diag");
  if (c.homeassistant) feature(m, "ha");
  if (c.remote) feature(m, "remote");
  joinWifi(m, function () { client.connect(); });
  return m;
}
