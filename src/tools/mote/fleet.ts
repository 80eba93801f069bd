// The fleet model shared by `mote monitor` and `mote ls`: one MQTT connection that finds boards from
// what they already publish and keeps, per board, its state, identity, diagnostics, sensors (with a
// bounded history each) and actuators. Nothing is configured per board.
//
// How a board is recognised (its base topic learned):
//   <base>/status  "online" | "offline" | "error" | "sleeping"
//   <base>/info    identity JSON (protocol.ts parseInfo)
//   <base>/diag    diagnostics JSON (src/device/diag.ts)
//   <prefix>/device/<node>/config, <prefix>/<component>/<node>/<key>/config   Home Assistant discovery
//                  (src/device/ha.ts): names the status topic, sensors and actuators with their topics
// Any other topic under a known base is a sensor value, an actuator echo (<base>/<name>), a command
// (<base>/<name>/set), config errors (<base>/error) or a rejected command (<base>/rejected).
//
// Retained state on every broker: the wildcard subscriptions bring it where the broker delivers
// retained messages to wildcards. RabbitMQ delivers them only to exact-topic subscriptions, so every
// base learned (and every prefix of a topic not yet placed) is "probed": its retained topics are
// subscribed exactly for a few seconds, then unsubscribed (so live messages are not delivered twice).
import { EventEmitter } from "node:events";
import mqtt from "mqtt";
import type { MqttClient, IClientOptions } from "mqtt";
import type { BrokerOptions } from "./options.js";
import { parseInfo, type Info } from "./protocol.js";

export type State = "online" | "offline" | "sleeping" | "error" | "rolled back" | "unknown";

/** `<base>/diag` (src/device/diag.ts). */
export interface Diag {
  vars_free?: number; vars_total?: number; uptime?: number; rssi?: number | null; reconnects?: number;
  sent?: number; received?: number; dropped?: number; oversize?: number; storage_free?: number; last_error?: string;
}

/** Bounded history of one numeric topic: a ring of (time ms, value). */
export class Ring {
  t: Float64Array;
  v: Float64Array;
  len = 0;
  private head = 0; // next write position
  constructor(readonly cap: number) {
    // Starts small and doubles up to cap: a series seen a few times costs little.
    this.t = new Float64Array(Math.min(cap, 16));
    this.v = new Float64Array(this.t.length);
  }
  push(t: number, v: number): void {
    if (this.len == this.t.length && this.len < this.cap) {
      const n = Math.min(this.cap, this.t.length * 2), t2 = new Float64Array(n), v2 = new Float64Array(n);
      t2.set(this.t); v2.set(this.v);
      this.t = t2; this.v = v2;
      this.head = this.len;
    }
    this.t[this.head] = t; this.v[this.head] = v;
    this.head = (this.head + 1) % this.t.length;
    if (this.len < this.t.length) this.len++;
  }
  /** Oldest first: [times (ms)], [values]. */
  arrays(): [number[], number[]] {
    const ts: number[] = [], vs: number[] = [], n = this.t.length, start = (this.head - this.len + n) % n;
    for (let i = 0; i < this.len; i++) { const k = (start + i) % n; ts.push(this.t[k]); vs.push(this.v[k]); }
    return [ts, vs];
  }
}

export interface Sensor { name: string; topic: string; unit?: string; text?: string; at?: number; history: Ring }
export interface Actuator { name: string; topic: string; type: "digital" | "pwm" | "unknown"; text?: string; at?: number; commandAt?: number }

export interface Board {
  base: string;
  statusTopic: string;
  status?: string;          // last payload of the status topic
  lastSeen?: number;        // ms: last live (not retained) message from the board
  info?: Info;
  diag?: Diag;
  diagAt?: number;
  configErrors: string;     // <base>/error, "" when none
  rejected?: { text: string; at: number };
  name?: string;            // Home Assistant device name
  model?: string;
  sensors: Map<string, Sensor>;
  actuators: Map<string, Actuator>;
}

/** One row of the fleet: what `mote ls --json` prints and the page's fleet view shows. */
export interface Row {
  base: string; id?: string; name?: string; state: State; trouble: number; lastSeen?: number;
  fw?: string; hash?: string; board?: string; boot?: string; why?: string; remote?: boolean;
  varsFree?: number; varsTotal?: number; rssi?: number | null; reconnects?: number; lastError?: string;
  sensors: number; actuators: number;
}

export interface FleetOptions {
  broker: BrokerOptions;
  /** Filters to watch (default ["#"]); e.g. ["it/#"] where the broker allows only part of the tree. */
  topics?: string[];
  /** Points kept per sensor (default 300). */
  history?: number;
  clientId?: string;
  /** Most boards tracked (default 10000): the model stays bounded whatever the broker carries. */
  maxBoards?: number;
}

const STATUS = new Set(["online", "offline", "error", "sleeping"]);
const SPECIAL = new Set(["status", "info", "diag", "error", "rejected", "reply", "cmd"]);
const HA_COMPONENT = /^(.+)\/(sensor|binary_sensor|switch|number|button|update)\/([^/]+)\/([^/]+)\/config$/;
const HA_DEVICE = /^(.+)\/device\/([^/]+)\/config$/;
const MAX_ENTITIES = 64;    // per board: a misplaced flood of topics cannot grow a board without end
const MAX_PROBED = 20000;   // prefixes probed for retained state
const PROBE_MS = 3000;      // how long a probe subscription stays

/** The state shown for a board: its status, with a rollback (info.boot) shown while it is up. */
export function stateOf(b: Board): State {
  if (b.status == "offline") return "offline";
  if (b.status == "sleeping") return "sleeping";
  if (b.status == "error") return "error";
  if (b.info && b.info.boot == "rollback") return "rolled back";
  if (b.status == "online") return "online";
  return "unknown";
}

/** Higher is worse: the order of "trouble first". */
export function troubleOf(b: Board): number {
  const s = stateOf(b);
  if (s == "error" || s == "rolled back") return 4;
  if (s == "offline") return 3;
  if (s == "unknown") return 2;
  if (lastErrorOf(b) || (b.diag && b.diag.dropped)) return 1;
  return 0;
}

function lastErrorOf(b: Board): string | undefined {
  if (b.configErrors) return b.configErrors.split("\n")[0];
  if (b.diag && b.diag.last_error) return b.diag.last_error;
  if (b.rejected) return "rejected: " + b.rejected.text;
  return undefined;
}

export function rowOf(b: Board): Row {
  const i = b.info, d = b.diag;
  return {
    base: b.base, id: i?.id, name: b.name, state: stateOf(b), trouble: troubleOf(b), lastSeen: b.lastSeen,
    fw: i?.fw, hash: i?.hash, board: i?.board ?? b.model, boot: i?.boot, why: i?.why, remote: i?.remote,
    varsFree: d?.vars_free, varsTotal: d?.vars_total, rssi: d?.rssi, reconnects: d?.reconnects,
    lastError: lastErrorOf(b), sensors: b.sensors.size, actuators: b.actuators.size,
  };
}

/** A number for the chart: numbers, and true/false as 1/0 (digital sensors); undefined otherwise. */
export function numeric(text: string): number | undefined {
  if (text == "true") return 1;
  if (text == "false") return 0;
  if (text.trim() == "") return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * Events: "board" (base) a board appeared or its row changed; "sensor" (base, name, t, v?) a value;
 * "actuator" (base, name) an echo; "connection" (connected: boolean, why?).
 */
export class Fleet extends EventEmitter {
  readonly boards = new Map<string, Board>();
  connected = false;
  connects = 0;             // CONNACKs so far (reconnections after the first)
  lastConnectionError?: string;
  messages = 0;
  private client?: MqttClient;
  private readonly byStatusTopic = new Map<string, string>(); // custom status topics -> base
  private readonly placed = new Map<string, string | null>();  // topic -> base (null: none), a bounded cache
  private readonly probed = new Set<string>();
  private readonly haPrefixes = new Set<string>(["homeassistant"]); // <prefix>/status is Home Assistant's birth
  private probeQueue = new Set<string>();
  private probeTimer?: NodeJS.Timeout;
  private readonly history: number;
  private readonly maxBoards: number;

  constructor(readonly opts: FleetOptions) {
    super();
    this.history = opts.history ?? 300;
    this.maxBoards = opts.maxBoards ?? 10000;
  }

  /** Connects (and keeps reconnecting); resolves at the first CONNACK, rejects on a refusal. */
  start(): Promise<void> {
    const o = this.opts;
    const options: IClientOptions = {
      protocolVersion: 4, clean: true, reconnectPeriod: 1000, connectTimeout: 5000, keepalive: 30,
      clientId: o.clientId ?? "mote-monitor-" + process.pid + "-" + Math.random().toString(16).slice(2, 8),
      username: o.broker.username, password: o.broker.password, rejectUnauthorized: false,
    };
    const c = this.client = mqtt.connect(o.broker.url, options);
    c.on("message", (topic, payload, packet) => this.onMessage(topic, payload, !!packet.retain));
    c.on("connect", () => {
      this.connected = true;
      this.connects++;
      this.lastConnectionError = undefined;
      // One SUBSCRIBE per filter: a broker refusing one (ejabberd answers 0x8F, which mqtt.js takes as
      // an error) must not cost the others.
      for (const f of o.topics ?? ["#"]) {
        c.subscribe(f, { qos: 1 }, (err, granted) => {
          if (err || (granted && granted[0] && granted[0].qos > 2)) this.emit("warning", `subscribe ${f} refused` + (err ? ": " + err.message : ""));
        });
      }
      // Retained state again (a new session): probe every base we know.
      this.probed.clear();
      for (const base of this.boards.keys()) this.probeBase(base);
      this.emit("connection", true);
    });
    c.on("close", () => { if (this.connected) { this.connected = false; this.emit("connection", false, this.lastConnectionError); } });
    c.on("error", (e) => { this.lastConnectionError = e.message; this.emit("connection", false, e.message); });
    return new Promise((resolve, reject) => {
      const ok = () => { c.removeListener("error", bad); resolve(); };
      const bad = (e: Error & { code?: unknown }) => {
        // A refusal (bad credentials) will not get better by retrying.
        if (typeof e.code == "number") { c.removeListener("connect", ok); c.end(true); reject(e); }
      };
      c.once("connect", ok);
      c.on("error", bad);
    });
  }

  async stop(): Promise<void> {
    if (this.probeTimer) clearTimeout(this.probeTimer);
    const c = this.client;
    this.client = undefined;
    if (c) await new Promise<void>((r) => c.end(true, {}, () => r()));
  }

  /** Commands an actuator: `value` on <base>/<name>/set (QoS 1, not retained). */
  command(base: string, name: string, value: string): Promise<void> {
    const b = this.boards.get(base), a = b?.actuators.get(name);
    if (!b || !a) return Promise.reject(new Error(`no actuator ${name} on ${base}`));
    if (!this.client || !this.connected) return Promise.reject(new Error("not connected to the broker"));
    a.commandAt = Date.now();
    return this.client.publishAsync(base + "/" + name + "/set", value, { qos: 1, retain: false }).then(() => undefined);
  }

  rows(): Row[] {
    return [...this.boards.values()].map(rowOf);
  }

  // ---------------------------------------------------------------------------------------- input

  private onMessage(topic: string, payload: Buffer, retained: boolean): void {
    this.messages++;
    const text = payload.toString("utf8");
    const now = Date.now();
    // Messages that name their board.
    if (topic.endsWith("/status") && STATUS.has(text) && !this.haPrefixes.has(topic.slice(0, -7))) {
      const b = this.board(this.byStatusTopic.get(topic) ?? topic.slice(0, -7));
      if (b) { b.status = text; this.seen(b, retained, now); this.emit("board", b.base); }
      return;
    }
    const custom = this.byStatusTopic.get(topic);
    if (custom !== undefined) {
      const b = this.boards.get(custom);
      if (b && text) { b.status = text; this.seen(b, retained, now); this.emit("board", b.base); }
      return;
    }
    if (topic.endsWith("/info")) {
      const info = parseInfo(payload);
      const b = info && this.board(topic.slice(0, -5));
      if (b) { b.info = info; this.seen(b, retained, now); this.emit("board", b.base); return; }
    }
    if (topic.endsWith("/diag")) {
      const d = parseDiag(text);
      const b = d && this.board(topic.slice(0, -5));
      if (b) { b.diag = d; b.diagAt = now; this.seen(b, retained, now); this.emit("board", b.base); return; }
    }
    if (topic.endsWith("/config") && text.startsWith("{")) { if (this.homeAssistant(topic, text)) return; }

    // Messages under a board we know.
    const base = this.place(topic);
    if (base === null) return;
    const b = this.boards.get(base)!;
    const rest = topic.slice(base.length + 1);
    this.seen(b, retained, now);
    if (rest == "error") { b.configErrors = text; this.emit("board", base); return; }
    if (rest == "rejected") { b.rejected = { text, at: now }; this.emit("board", base); return; }
    if (SPECIAL.has(rest) || rest.startsWith("ota/") || rest == "restart/set") return;
    if (rest.endsWith("/set")) {
      // Someone commanded it: whatever it is, it is an actuator.
      const name = rest.slice(0, -4);
      if (!b.actuators.has(name)) this.actuator(b, name, "unknown");
      return;
    }
    const a = b.actuators.get(rest);
    if (a) {
      a.text = text; a.at = now;
      this.emit("actuator", base, rest);
      this.emit("board", base);
      return;
    }
    if (!text && retained) return; // a cleared retained topic
    const s = this.sensor(b, rest);
    if (!s) return;
    s.text = text; s.at = now;
    const v = numeric(text);
    if (v !== undefined) s.history.push(now, v);
    this.emit("sensor", base, rest, now, v);
  }

  /** A live message refreshes "last seen"; a retained one only tells the last state. */
  private seen(b: Board, retained: boolean, now: number) {
    if (!retained) b.lastSeen = now;
  }

  /** The board of `base`, created (and probed for its retained state) when new. */
  private board(base: string): Board | undefined {
    if (!base) return undefined;
    let b = this.boards.get(base);
    if (!b) {
      if (this.boards.size >= this.maxBoards) return undefined;
      b = { base, statusTopic: base + "/status", configErrors: "", sensors: new Map(), actuators: new Map() };
      this.boards.set(base, b);
      this.placed.clear(); // topics cached as "no board" may now have one
      this.probeBase(base);
    }
    return b;
  }

  private sensor(b: Board, name: string, unit?: string): Sensor | undefined {
    let s = b.sensors.get(name);
    if (!s) {
      if (b.sensors.size + b.actuators.size >= MAX_ENTITIES) return undefined;
      s = { name, topic: b.base + "/" + name, unit, history: new Ring(this.history) };
      b.sensors.set(name, s);
      this.emit("board", b.base);
    } else if (unit) s.unit = unit;
    return s;
  }

  private actuator(b: Board, name: string, type: Actuator["type"]): Actuator | undefined {
    let a = b.actuators.get(name);
    if (!a) {
      if (b.sensors.size + b.actuators.size >= MAX_ENTITIES) return undefined;
      // What was taken for a sensor (an echo seen before the discovery) becomes the actuator it is.
      const s = b.sensors.get(name);
      b.sensors.delete(name);
      a = { name, topic: b.base + "/" + name, type, text: s?.text, at: s?.at };
      b.actuators.set(name, a);
      this.probe([a.topic]);
      this.emit("board", b.base);
    } else if (type != "unknown") a.type = type;
    return a;
  }

  /** The known base `topic` is under (the longest), or null. */
  private place(topic: string): string | null {
    let base = this.placed.get(topic);
    if (base !== undefined) return base;
    base = null;
    for (let i = topic.lastIndexOf("/"); i > 0; i = topic.lastIndexOf("/", i - 1)) {
      const p = topic.slice(0, i);
      if (this.boards.has(p)) { base = p; break; }
    }
    if (base === null) {
      // Not placed yet: its prefixes may be bases whose retained status this broker kept from our
      // wildcard subscription (RabbitMQ): ask for them exactly.
      for (let i = topic.indexOf("/"); i > 0 && i < topic.length; i = topic.indexOf("/", i + 1)) this.probeBase(topic.slice(0, i), true);
    }
    if (this.placed.size > 50000) this.placed.clear();
    this.placed.set(topic, base);
    return base;
  }

  /** Home Assistant discovery: the board's status topic, sensors (with units) and actuators. */
  private homeAssistant(topic: string, text: string): boolean {
    let m = HA_DEVICE.exec(topic), comps: { p: string; [k: string]: any }[] = [], cfg: any;
    const c = HA_COMPONENT.exec(topic);
    if (!m && !c) return false;
    try { cfg = JSON.parse(text); } catch { return false; }
    if (!cfg || typeof cfg != "object") return false;
    if (m) { if (cfg.cmps && typeof cfg.cmps == "object") comps = Object.values(cfg.cmps); }
    else comps = [Object.assign({ p: c![2] }, cfg)];
    const dev = cfg.dev || cfg.device || {};
    if (dev.mf != "mote") return false; // another vendor's device
    this.haPrefixes.add((m || c)![1]);
    // The base: the restart button's command topic (<base>/restart/set) or the diag topic.
    let base: string | undefined;
    for (const x of comps) {
      const cmd = x.cmd_t ?? x.command_topic, st = x.stat_t ?? x.state_topic;
      if (typeof cmd == "string" && cmd.endsWith("/restart/set")) base = cmd.slice(0, -12);
      else if (typeof st == "string" && st.endsWith("/diag")) base = st.slice(0, -5);
    }
    const avty = Array.isArray(cfg.avty) && cfg.avty[0] ? cfg.avty[0].t ?? cfg.avty[0].topic : undefined;
    if (!base && typeof avty == "string" && avty.endsWith("/status")) base = avty.slice(0, -7);
    if (!base) return true;
    const b = this.board(base);
    if (!b) return true;
    if (typeof dev.name == "string") b.name = dev.name;
    if (typeof dev.mdl == "string") b.model = dev.mdl;
    if (typeof avty == "string" && avty != b.statusTopic) {
      b.statusTopic = avty;
      if (avty != base + "/status") { this.byStatusTopic.set(avty, base); this.probe([avty]); }
    }
    for (const x of comps) {
      const p = x.p, st = x.stat_t ?? x.state_topic, cmd = x.cmd_t ?? x.command_topic;
      const under = (t: unknown) => typeof t == "string" && t.startsWith(base + "/") ? t.slice(base!.length + 1) : undefined;
      if (p == "switch" || p == "number") {
        const name = under(cmd)?.replace(/\/set$/, "");
        if (name) this.actuator(b, name, p == "number" ? "pwm" : "digital");
      } else if (p == "sensor" || p == "binary_sensor") {
        const name = under(st);
        if (name && name != "diag") this.sensor(b, name, x.unit_of_meas ?? x.unit_of_measurement);
      }
    }
    this.emit("board", base);
    return true;
  }

  // ---------------------------------------------------------------------------------------- probes

  private probeBase(base: string, guess = false): void {
    if (this.probed.has(base)) return;
    if (this.probed.size >= MAX_PROBED) return;
    this.probed.add(base);
    const t = [base + "/status", base + "/info"];
    const b = guess ? undefined : this.boards.get(base);
    if (b) {
      t.push(base + "/error");
      if (b.statusTopic != base + "/status") t.push(b.statusTopic);
      for (const a of b.actuators.values()) t.push(a.topic);
    }
    this.probe(t);
  }

  /** Subscribes these exact topics a moment (their retained messages come), in batches. */
  private probe(topics: string[]): void {
    for (const t of topics) this.probeQueue.add(t);
    if (!this.probeTimer) this.probeTimer = setTimeout(() => this.flushProbes(), 100);
  }

  private flushProbes(): void {
    this.probeTimer = undefined;
    const c = this.client;
    if (!c || !this.connected) { this.probeQueue.clear(); return; }
    const all = [...this.probeQueue];
    this.probeQueue.clear();
    for (let i = 0; i < all.length; i += 200) {
      const batch = all.slice(i, i + 200);
      c.subscribe(batch, { qos: 1 }, (err) => {
        if (err) return;
        const t = setTimeout(() => { if (this.client === c && c.connected) c.unsubscribe(batch, () => {}); }, PROBE_MS);
        t.unref();
      });
    }
  }
}

function parseDiag(text: string): Diag | undefined {
  if (!text.startsWith("{")) return undefined;
  try {
    const v = JSON.parse(text);
    return v && typeof v == "object" && ("vars_free" in v || "uptime" in v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Connects, waits `settleMs` for retained state and live messages, and resolves with the rows. */
export async function snapshot(opts: FleetOptions, settleMs: number): Promise<Row[]> {
  const f = new Fleet(opts);
  await f.start();
  await new Promise((r) => setTimeout(r, settleMs));
  const rows = f.rows();
  await f.stop();
  return rows;
}

const byBase = new Intl.Collator("en", { numeric: true }); // fleet/2 before fleet/10
/** Trouble first, then by base. */
export function troubleFirst(a: Row, b: Row): number {
  return b.trouble - a.trouble || byBase.compare(a.base, b.base);
}
