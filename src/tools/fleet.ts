// `npm run fleet -- --boards N --broker URL [--real K] [--prefix fleet]`: N simulated boards on one
// broker, for the fleet monitor. K of them (default: what fits on this machine, see DEFAULT_REAL) run
// the real firmware/mote.js in the host simulator with the diag and Home Assistant features; the others
// are light boards: one mqtt.js client each, publishing the same topics the runtime does:
//   <base>/status  online (retained, QoS 1) at connect, offline through the will
//   <base>/info    identity (retained), <base>/error "" (retained), Home Assistant device discovery
//   <base>/level   a value every second (QoS 0), <base>/diag every 10 s
//   <base>/relay, <base>/fan   echoed (retained) after a command on <base>/<name>/set; refused
//                  payloads on <base>/rejected, as src/device/actuators.ts does
// Every board's base is <prefix>/<n> (n from 1); real ones are listed first.
import fs from "node:fs";
import path from "node:path";
import mqtt from "mqtt";
import type { MqttClient } from "mqtt";
import { SimBoard, flashLayout, writeLayout } from "../host/index.js";
import { ROOT } from "./config-check.js";
import { hashHex } from "./mote/protocol.js";
import { parseArgs, brokerOf, type BrokerOptions } from "./mote/options.js";

/** The firmware version light boards say they run: the one the build writes into the real bundles. */
const FW_VERSION: string = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).version;

/** Real-bundle boards that fit on the 2-core machine this was measured on (README "Fleet monitor"). */
export const DEFAULT_REAL = 500;

export interface FleetSimOptions {
  broker: BrokerOptions;
  boards: number;
  real?: number;
  prefix?: string;
  /** Seconds between a light board's sensor values (default 1). */
  every?: number;
  log?: (line: string) => void;
}

export interface SimulatedFleet {
  bases: string[];
  real: SimBoard[];
  light: LightBoard[];
  /** Resolves when every light board has connected once. */
  ready: Promise<void>;
  stop(): Promise<void>;
}

const HA_PREFIX = "homeassistant";

/** A protocol-level board: what a mote board publishes, from one mqtt.js client. */
export class LightBoard {
  client: MqttClient;
  level = 0.5;
  state: { [name: string]: number } = { relay: 0, fan: 0 };
  seq = 0;
  private readonly t0 = Date.now();
  private reconnects = -1;
  private sent = 0;
  private received = 0;

  constructor(readonly base: string, readonly id: string, broker: BrokerOptions) {
    this.client = mqtt.connect(broker.url, {
      protocolVersion: 4, clientId: id, clean: true, keepalive: 30, reconnectPeriod: 2000, connectTimeout: 10000,
      username: broker.username, password: broker.password, rejectUnauthorized: false,
      will: { topic: base + "/status", payload: Buffer.from("offline"), qos: 1, retain: true },
    });
    this.client.on("error", () => { /* reconnects */ });
    this.client.on("connect", () => this.online());
    this.client.on("message", (topic, payload) => this.command(topic, payload.toString()));
  }

  private pub(topic: string, text: string, qos: 0 | 1, retain: boolean) {
    this.sent++;
    this.client.publish(topic, text, { qos, retain });
  }

  private online() {
    const b = this.base, q = 1 as const;
    this.reconnects++;
    this.pub(b + "/status", "online", q, true);
    this.pub(b + "/error", "", q, true);
    this.pub(b + "/info", JSON.stringify({
      fw: FW_VERSION, hash: hashHex("sha256", "light board " + this.id), alg: "sha256", board: "light-sim", id: this.id,
      cfg: hashHex("sha256", b), free: 200000, boot: "power", n: 0, remote: false,
    }), q, true);
    this.pub(HA_PREFIX + "/device/" + this.id + "/config", JSON.stringify(haDevice(b, this.id)), 0, true);
    for (const name in this.state) this.pub(b + "/" + name, String(this.state[name]), q, true);
    this.client.subscribe([b + "/relay/set", b + "/fan/set"], { qos: 1 });
    setTimeout(() => this.diag(), 1000).unref();
  }

  /** One sensor value: a random walk in 0..1, 3 decimals (like the runtime's rounding). */
  tick() {
    if (!this.client.connected) return;
    this.level = Math.min(1, Math.max(0, this.level + (Math.random() - 0.5) * 0.05));
    this.pub(this.base + "/level", String(Math.round(this.level * 1000) / 1000), 0, false);
    if (++this.seq % 10 == 0) this.diag();
  }

  diag() {
    if (!this.client.connected) return;
    this.pub(this.base + "/diag", JSON.stringify({
      vars_free: 900 + Math.round(Math.random() * 50), vars_total: 1600, uptime: Math.round((Date.now() - this.t0) / 1000),
      rssi: -60 - Math.round(Math.random() * 20), reconnects: Math.max(0, this.reconnects), sent: this.sent, received: this.received,
      dropped: 0, oversize: 0, storage_free: 200000, last_error: "",
    }), 0, false);
  }

  /** As src/device/actuators.ts: 1/0, true/false, on/off; the fan (pwm) also 0..1 and 0..100%. */
  private command(topic: string, msg: string) {
    this.received++;
    const name = topic.slice(this.base.length + 1, -4), t = msg.trim().toLowerCase();
    let v: number | undefined;
    if (t == "1" || t == "true" || t == "on") v = 1;
    else if (t == "0" || t == "false" || t == "off") v = 0;
    else if (name == "fan" && t) {
      const pct = t.endsWith("%"), n = Number(pct ? t.slice(0, -1) : t);
      if (n >= 0 && n <= (pct ? 100 : 1)) v = pct ? n / 100 : n;
    }
    if (v === undefined) {
      this.pub(this.base + "/rejected", name + ": rejected " + JSON.stringify(msg), 0, false);
      return;
    }
    this.state[name] = v;
    this.pub(this.base + "/" + name, String(v), 1, true);
  }

  /** Abrupt loss: the socket goes, the broker publishes the will. */
  kill() { this.client.end(true); (this.client as any).stream?.destroy(); }
  /** A deliberate stop, as the runtime's: "offline" said by the board itself, then DISCONNECT (no will). */
  async end(): Promise<void> {
    if (this.client.connected) await this.client.publishAsync(this.base + "/status", "offline", { qos: 1, retain: true }).catch(() => {});
    await new Promise<void>((r) => this.client.end(false, {}, () => r()));
  }
}

/** The Home Assistant device discovery a light board announces (src/device/ha.ts's shape). */
function haDevice(base: string, id: string) {
  const node = id.replace(/[^a-zA-Z0-9_-]/g, "_"), D = { ent_cat: "diagnostic" };
  return {
    dev: { ids: [node], name: id, mdl: "light-sim", mf: "mote", sw: FW_VERSION }, o: { name: "mote", sw: FW_VERSION },
    avty: [{ t: base + "/status", val_tpl: "{{ 'offline' if value == 'offline' else 'online' }}" }],
    cmps: {
      level: { p: "sensor", name: "level", uniq_id: node + "_level", stat_t: base + "/level", stat_cla: "measurement" },
      relay: { p: "switch", name: "relay", uniq_id: node + "_relay", cmd_t: base + "/relay/set", stat_t: base + "/relay", pl_on: "1", pl_off: "0" },
      fan: { p: "number", name: "fan", uniq_id: node + "_fan", cmd_t: base + "/fan/set", stat_t: base + "/fan", min: 0, max: 1, step: 0.01 },
      diag_vars_free: { p: "sensor", name: "Free variables", uniq_id: node + "_diag_vars_free", stat_t: base + "/diag", val_tpl: "{{ value_json.vars_free }}", ...D },
      restart: { p: "button", name: "Restart", uniq_id: node + "_restart", cmd_t: base + "/restart/set", pl_prs: "PRESS", ent_cat: "config" },
    },
  };
}

/** The config of real board n: an analog level every second, the chip temperature, a relay and a fan. */
export function realConfig(base: string, id: string, broker: BrokerOptions): any {
  const u = new URL(broker.url);
  return {
    wifi: { ssid: "mote-sim", password: "pw" },
    mqtt: {
      host: u.hostname, port: Number(u.port) || 1883, client_id: id, keep_alive: 10,
      ...(broker.username ? { username: broker.username, password: broker.password ?? "" } : {}),
    },
    base,
    sensors: [
      { name: "level", type: "analog", pin: "D34", every: 1, deadband: 0 },
      { name: "chip", type: "internal-temperature", every: 10, deadband: 0.2 },
    ],
    actuators: [{ name: "relay", type: "digital", pin: "D26" }, { name: "fan", type: "pwm", pin: "D25" }],
    diag_every: 10,
    homeassistant: true,
  };
}

/** A simulated board running firmware/mote.js (with the mote-diag and mote-ha feature modules). */
export function bootReal(cfg: any, log?: (l: string) => void): SimBoard {
  const board = new SimBoard({ board: "esp32-devkitc", serial: cfg.mqtt.client_id, log });
  // Storage as flash.sh leaves it for this config.
  writeLayout(board, flashLayout("esp32-devkitc", cfg));
  board.boot();
  return board;
}

export function startFleet(o: FleetSimOptions): SimulatedFleet {
  const prefix = o.prefix ?? "fleet", real = Math.min(o.boards, o.real ?? DEFAULT_REAL);
  const bases: string[] = [], reals: SimBoard[] = [], lights: LightBoard[] = [];
  for (let n = 1; n <= o.boards; n++) bases.push(prefix + "/" + n);
  for (let n = 1; n <= real; n++) reals.push(bootReal(realConfig(bases[n - 1], prefix.replace(/\W/g, "-") + "-real-" + n, o.broker)));
  // Light boards connect in batches: a thousand CONNECTs at once would look like an attack to a broker.
  let connecting = true;
  const ready = (async () => {
    for (let n = real + 1; n <= o.boards && connecting; n++) {
      lights.push(new LightBoard(bases[n - 1], prefix.replace(/\W/g, "-") + "-light-" + n, o.broker));
      if (n % 50 == 0) await new Promise((r) => setTimeout(r, 100));
    }
    await Promise.all(lights.map((l) => l.client.connected ? undefined : new Promise((r) => l.client.once("connect", r))));
  })();
  // One timer for every light board: a tenth of them per 100 ms tick, each about once per `every` s.
  const every = (o.every ?? 1) * 1000, slices = Math.max(1, Math.round(every / 100));
  let slice = 0;
  const ticker = setInterval(() => {
    for (let i = slice; i < lights.length; i += slices) lights[i].tick();
    slice = (slice + 1) % slices;
  }, every / slices);
  return {
    bases, real: reals, light: lights, ready,
    stop: async () => {
      connecting = false;
      clearInterval(ticker);
      for (const b of reals) b.close();
      await Promise.all(lights.map((l) => l.end()));
    },
  };
}

async function main(): Promise<number> {
  const { flags } = parseArgs(process.argv.slice(2), ["boards", "broker", "username", "password", "real", "prefix", "every"]);
  if (flags.help) {
    process.stdout.write("usage: npm run fleet -- --boards N --broker URL [--real K (default " + DEFAULT_REAL + ")] [--prefix fleet] [--every 1]\n");
    return 0;
  }
  const boards = Number(flags.boards ?? 10), realN = flags.real === undefined ? undefined : Number(flags.real);
  if (!(Number.isInteger(boards) && boards > 0)) throw new Error("--boards: a whole number > 0");
  if (realN !== undefined && !(Number.isInteger(realN) && realN >= 0)) throw new Error("--real: a whole number >= 0");
  const broker = brokerOf(flags);
  const t0 = Date.now();
  const f = startFleet({ broker, boards, real: realN, prefix: typeof flags.prefix == "string" ? flags.prefix : undefined, every: flags.every ? Number(flags.every) : undefined });
  process.stdout.write(`fleet: ${boards} boards on ${broker.url}: ${f.real.length} running firmware/mote.js in the simulator, ${boards - f.real.length} light; bases ${f.bases[0]} .. ${f.bases[f.bases.length - 1]}\n`);
  await f.ready;
  process.stdout.write(`fleet: all light boards connected in ${((Date.now() - t0) / 1000).toFixed(1)} s; Ctrl-C to stop\n`);
  await new Promise<void>((resolve) => {
    const stop = () => { void f.stop().then(resolve); };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  return 0;
}

if (import.meta.url == "file://" + process.argv[1]) {
  main().then((c) => { process.exitCode = c; }, (e) => { process.stderr.write("fleet: " + (e as Error).message + "\n"); process.exit(1); });
}
