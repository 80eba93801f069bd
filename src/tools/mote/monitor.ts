// `mote monitor --broker URL [--port 8080]`: the fleet (fleet.ts) in a web page served on 127.0.0.1.
//
// The page (src/tools/mote/monitor/, served as it is, uPlot from node_modules/uplot/dist) gets a
// snapshot and then batched changes over Server-Sent Events (/events, the browser's EventSource
// reconnects by itself after the monitor restarts); it acts through small JSON POSTs:
//   POST /api/set        {base, name, value}      publish value on <base>/<name>/set
//   POST /api/validate   {config, board?}         the project's validator (config-check.ts): errors
//   POST /api/config     {base, config, key?}     validate, then push through ./remote.js
//   GET  /api/config?base=&key=                  read through ./remote.js
//   POST /api/ota?base=&key=  (body: the bundle)  OTA through ./remote.js, progress as SSE "remote"
//   GET  /api/fleet, /api/stats                  the rows; this process's memory and message count
// Config push and OTA use the same library as `mote config` / `mote ota` (./remote.js); where this
// build has none, the page shows them as unavailable, with the reason.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { Fleet, rowOf, type Board } from "./fleet.js";
import { parseArgs, brokerOf, keyOf, type BrokerOptions } from "./options.js";
import { ROOT, checkConfig, loadBoard, boardIds } from "../config-check.js";

const HELP = `usage: mote monitor --broker URL [--port 8080] [--topics FILTER,...] [--history N]

Finds every board on the broker from what it publishes (status, info, diag, Home Assistant discovery)
and serves a page on http://127.0.0.1:PORT showing them, live.

  --port N          local port of the page (default 8080; 0 = any free port)
  --topics F,...    filters to watch (default #), e.g. it/#,homeassistant/# where the broker allows less
  --history N       points kept per sensor (default 300)
  --key SECRET | --key-file F   device key for config/OTA (default: per board, from the page or the key store)
`;

const STATIC = path.join(ROOT, "src/tools/mote/monitor");
const UPLOT = path.join(ROOT, "node_modules/uplot/dist");
const FILES: { [url: string]: [string, string] } = {
  "/": [path.join(STATIC, "index.html"), "text/html; charset=utf-8"],
  "/app.js": [path.join(STATIC, "app.js"), "text/javascript; charset=utf-8"],
  "/style.css": [path.join(STATIC, "style.css"), "text/css; charset=utf-8"],
  "/vendor/uPlot.iife.min.js": [path.join(UPLOT, "uPlot.iife.min.js"), "text/javascript; charset=utf-8"],
  "/vendor/uPlot.min.css": [path.join(UPLOT, "uPlot.min.css"), "text/css; charset=utf-8"],
};
const FLUSH_MS = 200; // changes are batched this long: the page sees a change within about this

/** The API of src/tools/mote/remote.ts (the `mote config` / `mote ota` library), as used here. */
interface RemoteSession {
  getConfig(): Promise<unknown>;
  pushConfig(cfg: unknown, o: { onState?: (s: string) => void }): Promise<unknown>;
  ota(bytes: Buffer, o: { onProgress?: (done: number, total: number) => void }): Promise<unknown>;
  close(): Promise<void> | void;
}
interface RemoteLib { open(broker: BrokerOptions, clientId: string, key?: string): Promise<RemoteSession> }

/** ./remote.js when this build has it, or why not. */
export async function loadRemote(): Promise<{ lib?: RemoteLib; why?: string; configErrors?: (cfg: unknown, boardId?: string) => string[] }> {
  const spec = "./remote.js"; // a variable: the module may not exist in this build
  try {
    const m: any = await import(spec);
    const lib = m.Remote ?? m.default?.Remote;
    // configErrors: the validation `mote config push` does ("***" keeps a secret the board has).
    if (lib && typeof lib.open == "function") return { lib, configErrors: m.configErrors };
    return { why: "remote.js has no Remote.open" };
  } catch (e) {
    const missing = (e as { code?: string }).code == "ERR_MODULE_NOT_FOUND" && /remote\.js/.test((e as Error).message);
    return { why: missing ? "remote management (src/tools/mote/remote.ts) is not in this build" : "remote.js failed to load: " + (e as Error).message.split("\n")[0] };
  }
}

interface Client { res: http.ServerResponse; board?: string }

export interface MonitorOptions { broker: BrokerOptions; port: number; topics?: string[]; history?: number; key?: string }
export interface Monitor { url: string; port: number; fleet: Fleet; close(): Promise<void> }

/** Starts the fleet model and the page's server; resolves once both are up. */
export async function startMonitor(o: MonitorOptions): Promise<Monitor> {
  const fleet = new Fleet({ broker: o.broker, topics: o.topics, history: o.history });
  const remote = await loadRemote();
  const clients = new Set<Client>();
  const dirty = new Set<string>();
  const points = new Map<string, Map<string, [number[], (number | null)[]]>>(); // watched boards only
  const watched = () => new Set([...clients].map((c) => c.board).filter((b): b is string => !!b));
  let watchedNow = new Set<string>();

  fleet.on("board", (base: string) => dirty.add(base));
  fleet.on("sensor", (base: string, name: string, t: number, v: number | undefined) => {
    if (!watchedNow.has(base)) return;
    dirty.add(base);
    let m = points.get(base);
    if (!m) points.set(base, m = new Map());
    let p = m.get(name);
    if (!p) m.set(name, p = [[], []]);
    p[0].push(t); p[1].push(v ?? null);
  });
  fleet.on("connection", () => broadcast("broker", brokerState()));
  fleet.on("warning", (w: string) => process.stderr.write("monitor: " + w + "\n"));

  const brokerState = () => ({ url: o.broker.url, connected: fleet.connected, error: fleet.lastConnectionError });
  const send = (c: Client, event: string, data: unknown) => { c.res.write("event: " + event + "\ndata: " + JSON.stringify(data) + "\n\n"); };
  function broadcast(event: string, data: unknown, board?: string) {
    for (const c of clients) if (!board || c.board == board) send(c, event, data);
  }

  const flush = setInterval(() => {
    watchedNow = watched();
    if (!dirty.size) return;
    const rows = [...dirty].map((b) => fleet.boards.get(b)).filter((b): b is Board => !!b).map(rowOf);
    for (const c of clients) {
      send(c, "rows", rows);
      if (c.board && dirty.has(c.board)) {
        const b = fleet.boards.get(c.board);
        if (b) send(c, "board", detail(b, false, points.get(c.board)));
      }
    }
    dirty.clear();
    points.clear();
  }, FLUSH_MS);

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) json(res, 500, { error: (e as Error).message });
      else res.end();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    // Only this machine's pages: a foreign site's script (or a DNS-rebound name) cannot command boards.
    const host = req.headers.host ?? "";
    if (!/^(127\.0\.0\.1|localhost)(:\d+)?$/.test(host)) return json(res, 403, { error: "forbidden host" });
    if (req.method == "POST" && req.headers.origin && req.headers.origin != "http://" + host) return json(res, 403, { error: "forbidden origin" });

    if (req.method == "GET" && FILES[url.pathname]) {
      const [file, type] = FILES[url.pathname];
      res.writeHead(200, { "content-type": type, "cache-control": "no-cache" });
      fs.createReadStream(file).pipe(res);
      return;
    }
    if (req.method == "GET" && url.pathname == "/events") {
      const c: Client = { res, board: url.searchParams.get("board") || undefined };
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
      res.write("retry: 1000\n\n");
      clients.add(c);
      watchedNow = watched();
      const b = c.board ? fleet.boards.get(c.board) : undefined;
      send(c, "snapshot", {
        broker: brokerState(), rows: fleet.rows(), board: b ? detail(b, true) : c.board ? null : undefined,
        remote: { available: !!remote.lib, why: remote.why }, boards: boardIds(),
      });
      req.on("close", () => { clients.delete(c); watchedNow = watched(); });
      return;
    }
    if (url.pathname == "/favicon.ico") { res.writeHead(204); res.end(); return; }
    if (req.method == "GET" && url.pathname == "/api/fleet") return json(res, 200, fleet.rows());
    if (req.method == "GET" && url.pathname == "/api/stats") {
      // For npm run bench: this process's memory and what it has handled (?gc: after a full collection,
      // when node runs with --expose-gc, so heapUsed is what is live).
      const gc = (globalThis as { gc?: () => void }).gc;
      if (url.searchParams.has("gc") && gc) gc();
      const m = process.memoryUsage();
      return json(res, 200, { rss: m.rss, heapUsed: m.heapUsed, boards: fleet.boards.size, messages: fleet.messages, pages: clients.size });
    }
    if (req.method == "POST" && url.pathname == "/api/set") {
      const body = await readJson(req);
      if (typeof body.base != "string" || typeof body.name != "string" || typeof body.value != "string") return json(res, 400, { error: "base, name and value (strings) are required" });
      try { await fleet.command(body.base, body.name, body.value); } catch (e) { return json(res, 409, { error: (e as Error).message }); }
      return json(res, 200, { ok: true });
    }
    if (req.method == "POST" && url.pathname == "/api/validate") {
      const body = await readJson(req);
      return json(res, 200, { errors: validate(body.config, body.board) });
    }
    if (url.pathname == "/api/config" || url.pathname == "/api/ota") {
      if (!remote.lib) return json(res, 501, { error: "unavailable: " + remote.why });
      const base = (req.method == "POST" && url.pathname == "/api/config") ? undefined : url.searchParams.get("base");
      return remoteOp(req, res, url, base ?? undefined);
    }
    json(res, 404, { error: "not found" });
  }

  function validate(cfg: unknown, boardId?: unknown): string[] {
    if (remote.configErrors) return remote.configErrors(cfg, typeof boardId == "string" ? boardId : undefined);
    let spec: any;
    if (typeof boardId == "string" && boardIds().includes(boardId)) spec = loadBoard(boardId);
    return checkConfig(cfg, spec);
  }

  async function remoteOp(req: http.IncomingMessage, res: http.ServerResponse, url: URL, qbase?: string) {
    const lib = remote.lib!;
    let body: any, bytes: Buffer | undefined;
    if (url.pathname == "/api/ota") bytes = await readBody(req, 4 << 20);
    else if (req.method == "POST") body = await readJson(req);
    const base = qbase ?? body?.base;
    const b = typeof base == "string" ? fleet.boards.get(base) : undefined;
    if (!b || !b.info) return json(res, 404, { error: "no board with an identity (<base>/info) at " + base });
    if (!b.info.remote) return json(res, 409, { error: "the board at " + base + " does not take remote commands (its mote.json has no \"remote\")" });
    const key = (url.searchParams.get("key") || body?.key || o.key || undefined) as string | undefined;
    const progress = (data: object) => broadcast("remote", Object.assign({ base: b.base }, data), b.base);
    if (body && url.pathname == "/api/config") {
      const errors = validate(body.config, b.info.board);
      if (errors.length) return json(res, 400, { errors });
    }
    const op = url.pathname == "/api/ota" ? "ota" : req.method == "POST" ? "config push" : "config get";
    let s: RemoteSession | undefined;
    try {
      s = await lib.open(o.broker, b.info.id, key);
      let result: unknown;
      if (op == "config get") result = await s.getConfig();
      else if (op == "config push") result = await s.pushConfig(body.config, { onState: (state) => progress({ op, state }) });
      else result = await s.ota(bytes!, { onProgress: (done, total) => progress({ op, done, total }) });
      progress({ op, finished: true, ok: true });
      json(res, 200, { ok: true, result });
    } catch (e) {
      progress({ op, finished: true, ok: false, error: (e as Error).message });
      json(res, 502, { error: (e as Error).message });
    } finally {
      if (s) await s.close();
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, "127.0.0.1", () => { server.removeListener("error", reject); resolve(); });
  });
  const port = (server.address() as { port: number }).port;
  // The page works before the broker answers: it shows the broker as not connected.
  fleet.start().catch((e) => {
    process.stderr.write("monitor: broker refused the connection: " + (e as Error).message + "\n");
    broadcast("broker", { url: o.broker.url, connected: false, error: (e as Error).message });
  });
  return {
    url: "http://127.0.0.1:" + port + "/", port, fleet,
    close: async () => {
      clearInterval(flush);
      for (const c of clients) c.res.end();
      clients.clear();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await fleet.stop();
    },
  };
}

/** A board for the page: the row, identity, diagnostics, sensors (with history when `full`), actuators. */
function detail(b: Board, full: boolean, pts?: Map<string, [number[], (number | null)[]]>) {
  return {
    base: b.base, row: rowOf(b), statusTopic: b.statusTopic, status: b.status, info: b.info, diag: b.diag, diagAt: b.diagAt,
    configErrors: b.configErrors, rejected: b.rejected,
    sensors: [...b.sensors.values()].map((s) => ({
      name: s.name, topic: s.topic, unit: s.unit, text: s.text, at: s.at,
      history: full ? s.history.arrays() : undefined, points: pts?.get(s.name),
    })),
    actuators: [...b.actuators.values()].map((a) => ({ name: a.name, topic: a.topic, type: a.type, text: a.text, at: a.at })),
  };
}

function json(res: http.ServerResponse, code: number, v: unknown) {
  res.writeHead(code, { "content-type": "application/json" });
  res.end(JSON.stringify(v));
}

function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    req.on("data", (d: Buffer) => {
      n += d.length;
      if (n > max) { reject(new Error("request body over " + max + " bytes")); req.destroy(); return; }
      parts.push(d);
    });
    req.on("end", () => resolve(Buffer.concat(parts)));
    req.on("error", reject);
  });
}

async function readJson(req: http.IncomingMessage): Promise<any> {
  const text = (await readBody(req, 1 << 20)).toString("utf8");
  try {
    const v = JSON.parse(text);
    return v && typeof v == "object" ? v : {};
  } catch {
    return {};
  }
}

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseArgs(argv, ["broker", "username", "password", "port", "topics", "history", "key", "key-file", "device"]);
  if (flags.help) { process.stdout.write(HELP); return 0; }
  const port = flags.port === undefined ? 8080 : Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error("--port: not a port: " + flags.port);
  const history = flags.history === undefined ? undefined : Number(flags.history);
  if (history !== undefined && !(Number.isInteger(history) && history > 1)) throw new Error("--history: a whole number > 1");
  const m = await startMonitor({
    broker: brokerOf(flags), port, history, key: keyOf(flags),
    topics: typeof flags.topics == "string" ? flags.topics.split(",").filter(Boolean) : undefined,
  });
  process.stdout.write("mote monitor: " + m.url + " (broker " + brokerOf(flags).url + "; Ctrl-C to stop)\n");
  await new Promise<void>((resolve) => {
    const stop = () => { void m.close().then(resolve); };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  return 0;
}
