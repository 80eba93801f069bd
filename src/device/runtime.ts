// The device runtime: read and validate mote.json -> join WiFi -> connect MQTT with the will ->
// birth "online" (or "error" with the config errors) -> sensors publish, actuators obey.
// A bad config does not brick the board: the errors are logged, the sensors and actuators they
// name are skipped, and when WiFi and broker settings are usable the device still connects and
// reports the errors on <status> / <base>/error.
import { Client } from "../session/client.js";
import { platform } from "../platform/net.js";
import { board } from "../platform/board.js";
import { validateConfig, applyDefaults, release } from "./config.js";
import { joinWifi } from "./wifi.js";
import { startSensors } from "./sensors.js";
import { startActuators } from "./actuators.js";
import { online, offline } from "./status.js";
import { VERSION } from "./version.js";
import type { Mote } from "./mote.js";

export type { Mote };

/**
 * Loads an optional feature: the Storage module "mote-<name>" (firmware/mote-<name>.js, built from
 * src/firmware/mote-<name>.ts) and calls its start(m, board). A board pays variables only for the features
 * its config names. A missing or throwing module is reported, never fatal: the board stays up.
 */
export let feature = function (m: Mote, name: string): any {
  var f: any, x: any;
  try {
    // The board is passed in: a feature importing board.ts would carry its own copy of it.
    f = (x = board.module("mote-" + name)).start(m, board);
  } catch (e) {
    m.errors.push(name + ": " + (e as Error).message);
    m.log(name + ": " + (e as Error).message);
  }
  // Started, a feature lives on in what it registered (listeners, timers, m.f), and its module scope
  // keeps its exports: without start (some 8 variables) and out of require's cache, they hold nothing.
  if (x) delete x.start;
  board.forget("mote-" + name);
  return (m.f || (m.f = {}))[name] = f;
};


// The running device: one per board. Module-level functions below read it instead of closures made in
// start(): each closure would stay for good (~8 variables) and keep start()'s whole scope alive with it.
var M: Mote;

function log(s: string) { console.log("mote: " + s); }
// At every connect: birth and states, the identity message (module mote-info, released right after),
// then, when the boot guard has something to confirm (a new bundle or config on trial, a restart reason
// to clear), its ok().
function connected() {
  M.up = 1;
  log("connected to " + M.client._host + ":" + M.client._port);
  online(M);
  // flash.sh puts mote-info on every board; one booted without it (tests, a bare upload) just has no info.
  if (board.readText("mote-info") !== undefined) {
    try {
      board.module("mote-info").start(M, board);
    } catch (x) {
      log("info: " + (x as Error).message);
    }
    board.forget("mote-info");
  }
  // Not when remote management is configured and did not start (a bad mote-remote from an update): the
  // trial would pass, and the board could never be updated again without a cable.
  if (M.g && M.g.ok && (!M.c.remote || M.f.remote)) M.g.ok();
}
function disconnected(r: string) { M.up = 0; log("disconnected: " + r); }
function failed(x: any) { log("mqtt: " + x.message); }

// Boot-only functions (start, feature, startSensors, startActuators, joinWifi) are function expressions
// in `let`s that are cleared once they have run: a function declaration stays resident for good (some 6
// variables each, its code being in flash), and these are never called again.
/** Starts the runtime; `g` is the boot guard's global moteBoot (undefined when booted without it). */
export let start = function (g?: any): Mote {
  start = undefined as any;
  var c = board.readJSON("mote.json", true), b = board.readJSON("mote.board", true),
    // up: 1/0, an integer (1 variable) rather than a boolean (2).
    m: any = M = { t0: board.seconds(), up: 0, v: VERSION, g: g, log: log } as any,
    e: string[], i: number, q: any, client: Client;
  if (!b) log("no mote.board in Storage: pins not checked");
  // Without a board file, what the board has tells whether WiFi settings are needed.
  e = c === undefined ? ["mote.json: missing or not valid JSON"] : validateConfig(c, b || (board.wifi() ? undefined : { wifi: false }));
  if (e.length && e[0].indexOf("config:") == 0) c = {};
  c = applyDefaults(c || {}, board.serial());
  release();
  m.c = c; m.base = c.base; m.errors = e; m.bad = e.join("|");
  for (i = 0; i < e.length; i++) log("config: " + e[i]);
  q = c.mqtt;
  if (!q.host && !q.servers) { log("no usable broker in mote.json: not connecting"); return m; }
  // mqtt.servers with each port defaulted to mqtt.port (1883, or 8883 with TLS), as one host would be.
  for (i = 0; q.servers && i < q.servers.length; i++) if (q.servers[i] && !q.servers[i].port) q.servers[i].port = q.port;
  try {
    client = m.client = new Client(platform, {
      host: q.host, port: q.port, servers: q.servers, tls: q.tls, username: q.username, password: q.password, client_id: q.client_id,
      // Asleep, a board keeps its session: commands sent meanwhile wait at the broker for its next wake.
      keep_alive: q.keep_alive, clean_session: c.sleep ? false : q.clean_session,
      // The will: "offline" on <status>, retained (status.ts says what else goes there).
      will: { topic: c.status, message: "offline", qos: 1, retain: true },
      inflight: c.limits.inflight, queue: c.limits.queue, max_packet: c.limits.max_packet,
    });
  } catch (x) {
    log("mqtt: " + (x as Error).message);
    return m;
  }
  client.on("connected", connected);
  client.on("disconnected", disconnected);
  client.on("error", failed);
  m.stop = offline;
  // Deep sleep first: it tells the others whether this start is a wake (m.wk).
  if (c.sleep) feature(m, "sleep");
  startActuators(m);
  startSensors(m);
  // Optional features. diag is on by default (300 s), but only where mote-diag is in Storage
  // (flash.sh uploads it) unless diag_every is set: a board flashed without it runs as before.
  i = c.diag_every;
  if (i !== 0 && (i || board.readText("mote-diag") !== undefined)) feature(m, "diag");
  if (c.homeassistant) feature(m, "ha");
  if (c.remote) feature(m, "remote");
  // The user's own code, when there is some, after everything else is set up.
  if (board.readText("mote-user.js") !== undefined) feature(m, "script");
  feature = undefined as any;
  joinWifi(m);
  return m;
};
