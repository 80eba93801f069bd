// `npm start`: the device runtime with no hardware. Starts an embedded MQTT broker (Aedes) on loopback,
// boots a simulated board (host simulator) running firmware/mote.js with an example config pointed at
// that broker, and shows a live view: device status, sensors, actuators, message counts, memory.
//
//   npm start                                       embedded broker on 127.0.0.1:1883 (or a free port)
//   npm start -- --broker mqtt://host:port          an existing broker instead
//   npm start -- --config my.json --board wemos-d1-mini
//   node .build/host/src/tools/start.js --duration 8   (exits by itself: for tests)
//
// On a terminal the view is redrawn about once a second (and at once when something changes);
// otherwise (a pipe, a log file) a plain snapshot is appended every few seconds and once at exit.
// Ctrl-C (or --duration) stops the board, the view's own MQTT client and the broker, and exits 0.
// The device is not stopped politely: it publishes nothing at exit (with an external broker its
// will then says "offline").
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { parseArgs } from "node:util";
import mqtt from "mqtt";
import type { MqttClient } from "mqtt";
import { SimBoard } from "../host/index.js";
import { ROOT, boardIds } from "./config-check.js";
import { flashLayout, writeLayout } from "../host/flash-layout.js";
import aedesModule from "aedes";

const USAGE = `Usage: npm start [-- options]   (or: node .build/host/src/tools/start.js [options])

Runs firmware/mote.js on a simulated board against an MQTT broker and shows a live view.

Options:
  --broker URL       use an existing broker (mqtt://host:port, mqtts://host:port; user:pass@ allowed)
                     instead of the embedded one
  --port N           port of the embedded broker (default 1883, or a free port when 1883 is taken;
                     0 = any free port)
  --config FILE      device config (default boards/examples/<board>.json); its mqtt host/port are
                     replaced by the broker's, WiFi is simulated
  --user FILE        your own code, run on the board as mote-user.js (README: "Your own code")
  --board ID         simulated board (default esp32-devkitc; one of: ${boardIds().join(", ")})
  --duration SEC     exit after SEC seconds (default: run until Ctrl-C)
  --interval SEC     seconds between snapshots when stdout is not a terminal (default 3)
  --help             this text
`;

interface Options {
  broker?: URL;
  port?: number;
  config: string;
  user?: string;
  board: string;
  duration?: number;
  interval: number;
}

class UsageError extends Error {}

function parseOptions(argv: string[]): Options | undefined {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      broker: { type: "string" }, port: { type: "string" }, config: { type: "string" }, board: { type: "string" }, user: { type: "string" },
      duration: { type: "string" }, interval: { type: "string" }, help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return undefined;
  if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const num = (name: string, v: string | undefined, min: number) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n) || n < min) throw new UsageError(`--${name}: not a number >= ${min}: ${v}`);
    return n;
  };
  const board = values.board ?? "esp32-devkitc";
  if (!boardIds().includes(board)) throw new UsageError(`--board: unknown board ${board} (one of: ${boardIds().join(", ")})`);
  let broker: URL | undefined;
  if (values.broker !== undefined) {
    try { broker = new URL(values.broker.includes("://") ? values.broker : "mqtt://" + values.broker); } catch {
      throw new UsageError(`--broker: not a URL: ${values.broker}`);
    }
    if (!["mqtt:", "tcp:", "mqtts:"].includes(broker.protocol)) throw new UsageError(`--broker: use mqtt://host:port or mqtts://host:port`);
    if (values.port !== undefined) throw new UsageError("--port is for the embedded broker, not with --broker");
  }
  const port = num("port", values.port, 0);
  if (port !== undefined && (port > 65535 || port % 1)) throw new UsageError(`--port: not a port: ${values.port}`);
  return {
    broker, port, board,
    config: values.config ?? path.join(ROOT, "boards/examples", board + ".json"),
    user: values.user === undefined ? undefined : fs.existsSync(values.user) ? values.user : (() => { throw new UsageError(`--user: no such file: ${values.user}`); })(),
    duration: num("duration", values.duration, 0),
    interval: num("interval", values.interval, 0.2) ?? 3,
  };
}

// ------------------------------------------------------------------------------------------ broker

interface Broker { port: number; url: string; stop(): Promise<void> }

/** Aedes on 127.0.0.1:port (0: any free port). The listener is bound before the broker is created, so a
 *  port in use (EADDRINUSE) leaves nothing behind. */
async function startBroker(port: number): Promise<Broker> {
  const sockets = new Set<net.Socket>();
  let handle: ((s: net.Socket) => void) | undefined;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => { /* a client reset */ });
    if (handle) handle(socket); else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => { server.removeListener("error", reject); resolve(); });
  });
  const broker = aedesModule.createBroker();
  broker.on("clientError", () => {});
  broker.on("connectionError", () => {});
  handle = (s) => broker.handle(s);
  const bound = (server.address() as net.AddressInfo).port;
  let stopping: Promise<void> | undefined;
  return {
    port: bound,
    url: `mqtt://127.0.0.1:${bound}`,
    stop: () => stopping ??= (async () => {
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      await closed;
      await new Promise<void>((r) => broker.close(() => r()));
    })(),
  };
}

// ------------------------------------------------------------------------------------------ view state

interface Seen { text: string; at: number; retained: boolean; count: number }

interface DeviceState {
  base: string;
  status: string;
  t0: number;
  bad: string;
  up: boolean;
  sensors: any[];
  actuators: any[];
  stats?: { sent: number; received: number; dropped: number; queued: number; inflight: number; reconnects: number };
  wifi?: { station?: string; ip?: string };
}

const UNITS: Record<string, string> = {
  "internal-temperature": " °C", ds18b20: " °C", memory: " vars free", uptime: " s", rssi: " dBm",
};

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s ago` : `${Math.floor(s / 3600)} h ago`;
}

/** Visible width of a cell (ANSI colour codes take no room). */
const width = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "").length;

function table(rows: string[][], indent = "  "): string[] {
  const w: number[] = [];
  for (const r of rows) r.forEach((c, i) => { w[i] = Math.max(w[i] ?? 0, width(c)); });
  return rows.map((r) => (indent + r.map((c, i) => (i == r.length - 1 ? c : c + " ".repeat(w[i] - width(c)))).join("  ")).trimEnd());
}

function quote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : "'" + s.replace(/'/g, "'\\''") + "'";
}

// ------------------------------------------------------------------------------------------ main

async function main(): Promise<number> {
  let opts: Options | undefined;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`start: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!opts) { process.stdout.write(USAGE); return 0; }

  const firmwareFile = path.join(ROOT, "firmware/mote.js");
  if (!fs.existsSync(firmwareFile)) {
    process.stderr.write(`start: ${firmwareFile} is missing: run npm run build (npm start does)\n`);
    return 1;
  }
  let cfg: any;
  try {
    cfg = JSON.parse(fs.readFileSync(opts.config, "utf8"));
  } catch (e) {
    process.stderr.write(`start: cannot read config ${opts.config}: ${(e as Error).message}\n`);
    return 1;
  }
  if (cfg === null || typeof cfg !== "object" || Array.isArray(cfg)) {
    process.stderr.write(`start: ${opts.config}: not a JSON object\n`);
    return 1;
  }

  const tty = !!process.stdout.isTTY;
  const color = tty && !process.env.NO_COLOR;
  const paint = (code: string, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const cleanups: (() => void | Promise<void>)[] = [];
  const hostTimers = new Set<NodeJS.Timeout>();
  let stopping: Promise<void> | undefined;

  // 1. broker
  let broker: Broker | undefined;
  let url: URL;
  let brokerNote: string;
  if (opts.broker) {
    url = opts.broker;
    if (!url.port) url.port = url.protocol == "mqtts:" ? "8883" : "1883";
    brokerNote = "external";
  } else {
    const want = opts.port ?? 1883;
    try {
      broker = await startBroker(want);
    } catch (e) {
      if (opts.port !== undefined || (e as NodeJS.ErrnoException).code !== "EADDRINUSE") {
        process.stderr.write(`start: cannot start the broker on port ${want}: ${(e as Error).message}\n`);
        return 1;
      }
      broker = await startBroker(0);
    }
    url = new URL(broker.url);
    brokerNote = broker.port == want || want == 0 ? "embedded Aedes" : `embedded Aedes; ${want} was taken`;
    cleanups.push(() => broker!.stop());
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(url.port);
  const shownUrl = `${url.protocol}//${url.host}`;

  // 2. the board
  cfg.mqtt = Object.assign({}, cfg.mqtt && typeof cfg.mqtt == "object" ? cfg.mqtt : {}, { host, port, servers: undefined, tls: url.protocol == "mqtts:" });
  if (url.username) { cfg.mqtt.username = decodeURIComponent(url.username); cfg.mqtt.password = decodeURIComponent(url.password); }
  else if (!opts.broker) { delete cfg.mqtt.username; delete cfg.mqtt.password; }
  const board = new SimBoard({ board: opts.board });
  cleanups.unshift(() => board.close());
  // Storage as flash.sh writes it: the boot guard, the runtime in its slot, the client's parts, the
  // feature modules this config uses, and the user's code with its API.
  writeLayout(board, flashLayout(opts.board, cfg, { user: opts.user ? fs.readFileSync(opts.user, "utf8") : undefined }));
  simulateWorld(board, cfg, hostTimers);
  board.boot();
  const dev: DeviceState = { base: "", status: "", t0: 0, bad: "", up: false, sensors: [], actuators: [] };
  const readDevice = () => {
    if (board.closed) return;
    try {
      const d = board.json(`typeof mote == "object" && mote.c ? {base: mote.base, status: mote.c.status, t0: mote.t0,
        bad: mote.bad, up: !!mote.up, sensors: mote.c.sensors, actuators: mote.c.actuators,
        stats: mote.client ? mote.client.stats() : undefined} : null`, "start.js");
      if (d) Object.assign(dev, d);
    } catch { /* the board is rebooting or broken: keep the last state */ }
  };
  readDevice();
  if (!dev.base) {
    process.stderr.write(`start: the runtime did not start:\n${board.logs.join("\n")}\n`);
    await Promise.all(cleanups.map((f) => f()));
    return 1;
  }
  let memory = board.memory();
  let memoryAt = Date.now();

  // 3. our own subscriber
  const seen = new Map<string, Seen>();
  let seenTotal = 0;
  let watcherState = "connecting";
  const events: string[] = [];
  const event = (s: string) => {
    events.push(`${new Date().toTimeString().slice(0, 8)} ${s}`);
    if (events.length > 6) events.shift();
  };
  const watcher: MqttClient = mqtt.connect(shownUrl, {
    protocolVersion: 4, clientId: "mote-start-" + process.pid, reconnectPeriod: 1000, connectTimeout: 5000,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    rejectUnauthorized: false,
  });
  cleanups.unshift(() => new Promise<void>((r) => { watcher.end(true, {}, () => r()); }));
  watcher.on("connect", () => {
    watcherState = "subscribed";
    const filters = [dev.base + "/#"];
    if (!dev.status.startsWith(dev.base + "/")) filters.push(dev.status);
    watcher.subscribe(filters, { qos: 1 }, (err) => { if (err) watcherState = "subscribe failed: " + err.message; });
  });
  watcher.on("error", (e) => { watcherState = "error: " + e.message; });
  watcher.on("offline", () => { if (!stopping) watcherState = "offline (reconnecting)"; });
  watcher.on("message", (topic, payload, packet) => {
    const text = payload.toString("utf8");
    const prev = seen.get(topic);
    seenTotal++;
    seen.set(topic, { text, at: Date.now(), retained: !!packet.retain && !prev, count: (prev?.count ?? 0) + 1 });
    if (topic == dev.status) event(`status ${text || "(cleared)"}`);
    else if (topic == dev.base + "/error") { if (text) event(`config error: ${text.split("\n")[0]}`); }
    else if (topic == dev.base + "/rejected") event(`command rejected: ${text}`);
    else if (topic.endsWith("/set")) event(`command ${topic.slice(dev.base.length + 1)} <- ${JSON.stringify(text)}`);
    else if (dev.actuators.some((a) => topic == dev.base + "/" + a.name)) event(`${topic.slice(dev.base.length + 1)} = ${text}`);
    redrawSoon();
  });

  // 4. the view
  const render = (final = false): string => {
    readDevice();
    if (Date.now() - memoryAt > 2000 && !board.closed) { memory = board.memory(); memoryAt = Date.now(); }
    const now = Date.now();
    const up = board.uptime();
    const out: string[] = [];
    const st = seen.get(dev.status);
    const statusText = st ? (st.text || "(empty)") : "unknown";
    const statusPaint = statusText == "online" ? "32" : statusText == "error" ? "33" : "31";
    out.push(`mote start · ${board.spec.name ?? board.spec.id} (${board.chip}, simulated) · serial ${board.serial} · up ${up.toFixed(0)} s${final ? " · stopped" : ""}`);
    out.push(`broker   ${shownUrl} (${brokerNote}) · view client ${watcherState}`);
    const rel = path.relative(process.cwd(), path.resolve(opts!.config));
    out.push(`config   ${rel && !rel.startsWith("..") ? rel : path.resolve(opts!.config)} (mqtt -> ${host}:${port})`);
    const wifi = board.wifi.connected ? `WiFi connected ${board.wifi.ip}` : board.wifi.up ? "WiFi not connected" : "WiFi access point down";
    const stale = st && !watcher.connected && !final ? ", last seen: the view is not connected" : "";
    out.push(`device   status ${paint(statusPaint, statusText)}${st ? ` (${dev.status}, ${st.retained ? "retained" : ago(now - st.at)}${stale})` : ` (${dev.status})`} · MQTT ${dev.up ? "connected" : "not connected"} · ${wifi}`);
    const err = seen.get(dev.base + "/error");
    if (err && err.text) for (const l of err.text.split("\n")) out.push(`         ${paint("33", "config error")} ${l}`);
    // A command the device refused at run time (<base>/rejected) is not a config error: shown apart, the last one.
    const rej = seen.get(dev.base + "/rejected");
    if (rej) out.push(`         ${paint("35", "command rejected")} ${rej.text} (${ago(now - rej.at)}; ${rej.count} so far)`);
    if (board.errors.length) out.push(`         ${paint("31", `${board.errors.length} uncaught exception(s)`)}, last: ${String((board.errors.at(-1) as any)?.message ?? board.errors.at(-1))}`);

    out.push("");
    out.push(`sensors (${dev.base}/<name>)`);
    const srows: string[][] = [["name", "type", "pin", "every", "value", "age", "errors"]];
    dev.sensors.forEach((s: any, i: number) => {
      const every = s.every || 60;
      const skipped = dev.bad.indexOf(`sensors[${i}]`) >= 0;
      let value = "", age = "";
      const topic = dev.base + "/" + s.name;
      if (s.type == "dht22" || s.type == "bme280") {
        const t = seen.get(topic + "/temperature"), h = seen.get(topic + "/humidity"), p = seen.get(topic + "/pressure");
        if (t) { value = `${t.text} °C` + (h ? `  ${h.text} %RH` : "") + (p ? `  ${p.text} hPa` : ""); age = t.retained ? "retained" : ago(now - t.at); }
      } else {
        const m = seen.get(topic);
        // A user sensor (mote.sensor() in mote-user.js) carries its own unit (as the file's UTF-8 bytes).
        const unit = s.type == "user" ? (s.unit ? " " + Buffer.from(String(s.unit), "latin1").toString("utf8") : "") : UNITS[s.type] ?? "";
        if (m) { value = m.text + (s.type == "analog" ? ` (${(Number(m.text) * 100).toFixed(0)}%)` : unit); age = m.retained ? "retained" : ago(now - m.at); }
      }
      if (skipped) value = "skipped (config error)";
      else if (!value && s.type == "button") value = "not pressed yet";
      else if (!value) {
        const since = up - dev.t0;
        value = since < every ? `first reading in ${Math.ceil(every - since)} s` : s.e ? "read failed" : "no value yet";
      }
      srows.push([s.name, s.type, s.pin ?? (s.sda ? `${s.sda}/${s.scl}` : "-"), s.type == "button" ? "on edge" : `${every} s`, value, age, String(s.e || 0)]);
    });
    if (dev.sensors.length) out.push(...table(srows)); else out.push("  (none in the config)");

    out.push("");
    out.push(`actuators (state on ${dev.base}/<name>, commands on ${dev.base}/<name>/set)`);
    const arows: string[][] = [["name", "type", "pin", "state", "pin level", "echoed"]];
    for (const a of dev.actuators) {
      let state = "-", level = "-";
      try {
        const p = board.pins.state(a.pin);
        if (a.type == "pwm" && p.duty !== undefined) {
          const v = a.invert ? 1 - p.duty : p.duty;
          state = `${Math.round(v * 100)}%`;
          level = `duty ${p.duty.toFixed(2)}${p.freq ? ` @ ${p.freq} Hz` : ""}`;
        } else if (p.mode == "output") {
          const v = a.invert ? 1 - p.out : p.out;
          state = v ? "on" : "off";
          level = `${p.out ? "high" : "low"}${a.invert ? " (inverted)" : ""}`;
        }
      } catch { /* a pin the board does not have: the runtime skipped it */ }
      const e = seen.get(dev.base + "/" + a.name);
      // An actuator of the user's code (mote.actuator) has no pin of its own: its state is its echo.
      if (a.type == "user" && e) state = e.text;
      if (a.x) state = "skipped (config error)";
      const echoed = e ? `${e.text} (${e.retained ? "retained" : ago(now - e.at)})` : "-";
      arows.push([a.name, a.type, a.pin ?? "-", state == "on" || (state.endsWith("%") && state != "0%") ? paint("1", state) : state, level, echoed]);
    }
    if (dev.actuators.length) out.push(...table(arows)); else out.push("  (none in the config)");

    out.push("");
    const s = dev.stats;
    out.push(`messages device out ${s?.sent ?? 0}, in ${s?.received ?? 0}` +
      (s ? ` (queued ${s.queued}, in flight ${s.inflight}, dropped ${s.dropped}, reconnects ${s.reconnects})` : "") +
      ` · seen by the view on ${dev.base}/#: ${seenTotal}`);
    out.push(`memory   ~${memory.usage} of ${memory.total} variables used (simulator estimate), ${board.sockets().length} socket(s), ${board.timerCount()} timer(s)`);

    if (events.length) {
      out.push("");
      out.push("recent");
      for (const e of events) out.push("  " + e);
    }
    const logs = board.logs.slice(-3);
    if (logs.length) {
      out.push("");
      out.push("board console (last lines)");
      for (const l of logs) out.push("  " + l);
    }
    if (dev.actuators.length && !final) {
      const a = dev.actuators[0], b = dev.actuators[1] ?? a;
      const hp = `-h ${host} -p ${port}`;
      out.push("");
      out.push("command an actuator (the view follows):");
      out.push(`  npx mqtt pub ${hp} -t ${quote(`${dev.base}/${a.name}/set`)} -m on`);
      out.push(`  mosquitto_pub ${hp} -t ${quote(`${dev.base}/${b.name}/set`)} -m ${b.type == "pwm" ? "50%" : "off"}`);
      out.push(`  (payloads: on/off, 1/0, true/false${dev.actuators.some((x) => x.type == "pwm") ? "; pwm also 0..1 or 0..100%" : ""})`);
    }
    if (!final) out.push(opts!.duration !== undefined ? `stopping in ${Math.max(0, Math.ceil(opts!.duration - (now - started) / 1000))} s (Ctrl-C to stop now)` : "Ctrl-C to quit");
    return out.join("\n");
  };

  const started = Date.now();
  let lastDraw = 0;
  let pending: NodeJS.Timeout | undefined;
  const draw = () => {
    if (stopping) return;
    lastDraw = Date.now();
    const text = render();
    if (tty) process.stdout.write("\x1b[H" + text.split("\n").map((l) => l + "\x1b[K").join("\n") + "\n\x1b[J");
    else process.stdout.write(`--- ${new Date().toISOString()}\n${text}\n\n`);
  };
  function redrawSoon() {
    if (!tty || pending || stopping) return;
    pending = setTimeout(() => { pending = undefined; draw(); }, Math.max(0, 150 - (Date.now() - lastDraw)));
  }
  if (tty) process.stdout.write("\x1b[?25l\x1b[2J\x1b[H");
  else {
    process.stdout.write(`mote start: simulated ${board.spec.id}, broker ${shownUrl} (${brokerNote}), base topic ${dev.base}\n`);
    if (dev.actuators.length) process.stdout.write(`command: npx mqtt pub -h ${host} -p ${port} -t ${quote(`${dev.base}/${dev.actuators[0].name}/set`)} -m on\n\n`);
  }
  const ticker = setInterval(draw, tty ? 1000 : opts.interval * 1000);
  if (tty) draw();

  // 5. stopping
  const stop = (why: string): Promise<void> => {
    if (!stopping) {
      stopping = (async () => {
        clearInterval(ticker);
        if (pending) clearTimeout(pending);
        for (const t of hostTimers) clearTimeout(t);
        hostTimers.clear();
        const text = render(true);
        for (const f of cleanups) { try { await f(); } catch { /* best effort */ } }
        if (tty) process.stdout.write("\x1b[H" + text.split("\n").map((l) => l + "\x1b[K").join("\n") + "\n\x1b[J\x1b[?25h");
        else process.stdout.write(`--- ${new Date().toISOString()} (final)\n${text}\n\n`);
        process.stdout.write(`mote start: stopped (${why}); board, view client${broker ? " and broker" : ""} closed\n`);
      })();
    }
    return stopping;
  };
  let signals = 0;
  const onSignal = (sig: string) => {
    if (++signals > 1) { if (tty) process.stdout.write("\x1b[?25h"); process.exit(130); }
    void stop(sig);
  };
  process.on("SIGINT", () => onSignal("Ctrl-C"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  const done = new Promise<void>((resolve) => {
    if (opts!.duration !== undefined) {
      const t = setTimeout(() => { void stop(`--duration ${opts!.duration}`).then(resolve); }, opts!.duration * 1000);
      hostTimers.add(t);
    }
    const poll = setInterval(() => { if (stopping) { clearInterval(poll); void stopping.then(resolve); } }, 50);
  });
  await done;
  process.removeAllListeners("SIGINT");
  process.removeAllListeners("SIGTERM");
  return 0;
}

/** Plausible inputs for the simulated board: the simulator already drifts ADC pins, the chip
 *  temperature, RSSI, DHT22 and DS18B20 readings; digital sensor pins are toggled here (a door that
 *  opens now and then, held open a few seconds), buttons pressed (with bounce), BME280s wired. */
function simulateWorld(board: SimBoard, cfg: any, timers: Set<NodeJS.Timeout>): void {
  const sensors: any[] = Array.isArray(cfg.sensors) ? cfg.sensors : [];
  const later = (fn: () => void, ms: number) => {
    const t = setTimeout(() => { timers.delete(t); if (!board.closed) fn(); }, ms);
    timers.add(t);
  };
  for (const s of sensors) {
    // A BME280 answers on its bus; a button is pressed now and then, with contact bounce.
    if (s && s.type == "bme280" && typeof s.sda == "string" && typeof s.scl == "string") board.attachBme280({ sda: s.sda, scl: s.scl, address: s.address });
    if (s && s.type == "button" && typeof s.pin == "string" && board.pins.valid(s.pin)) {
      const pin = s.pin, up = s.active_high ? 0 : 1;
      board.pins.set(pin, up);
      const press = () => later(() => {
        void board.bounce(pin, 1 - up).then(() => later(() => { void board.bounce(pin, up); press(); }, 300 + Math.random() * 700));
      }, 6000 + Math.random() * 10000);
      press();
    }
    if (!s || s.type != "digital" || typeof s.pin != "string" || !board.pins.valid(s.pin)) continue;
    const pin = s.pin;
    board.pins.set(pin, 0);
    const cycle = (first: boolean) => {
      later(() => {
        board.pins.set(pin, 1);
        later(() => { board.pins.set(pin, 0); cycle(false); }, 2500 + Math.random() * 4000);
      }, first ? 2500 + Math.random() * 1500 : 8000 + Math.random() * 12000);
    };
    cycle(true);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
    // Everything was closed: Node exits by itself. If something still holds it, say so and go.
    setTimeout(() => {
      process.stderr.write("start: something was still running 3 s after stopping; exiting anyway\n");
      process.exit(code || 1);
    }, 3000).unref();
  },
  (e) => {
    process.stderr.write(`start: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  },
);
