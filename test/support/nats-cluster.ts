// A private 3-node NATS cluster with JetStream and MQTT (Debian's nats-server) for failover tests: each
// node has its own config, JetStream store and log in one temp dir, and listens on loopback only (client,
// cluster and MQTT ports, all free ports). Every node routes to all three. Nodes can be killed (SIGKILL:
// a crash, not a clean shutdown) and started again with the same store.
//
// NATS keeps MQTT sessions, retained messages and QoS 1 messages in JetStream streams replicated over the
// cluster (replicas 3). They are created some seconds after start, and until then a CONNECT is refused or
// dropped: ready() waits until a persistent session with a QoS 1 subscription works on every node, and a
// message published on one node reaches a subscriber on another.
// Never skips: without nats-server, startNatsCluster() throws.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import mqtt from "mqtt";
import { freePort, waitFor, canConnect, sleep, withTimeout, LOOPBACK } from "./util.js";

export interface NatsNode {
  name: string;
  /** MQTT listener (what clients use). */
  port: number;
  clientPort: number;
  clusterPort: number;
  readonly running: boolean;
  /** SIGKILL (no clean shutdown) and wait until the process is gone; the store is kept. */
  kill(): Promise<void>;
  /** Start again on the same ports with the same store; resolves when the MQTT port accepts. */
  start(): Promise<void>;
}

export interface NatsCluster {
  nodes: NatsNode[];
  /** [{host, port}] of the MQTT listeners, in node order (the mote `servers` option). */
  servers: { host: string; port: number }[];
  version: string;
  /** Credentials of the one user (authorization on, as a real deployment has). */
  auth: { username: string; password: string };
  /** Waits until MQTT works on every running node (JetStream streams in place, cross-node delivery). */
  ready(timeoutMs?: number): Promise<void>;
  /** The node whose MQTT port is `port`. */
  byPort(port: number): NatsNode | undefined;
  /** The last lines of every node's log. */
  logTail(lines?: number): string;
  /** Kills every node and removes the temp dir (kept with MOTE_KEEP_TMP). Idempotent. */
  stop(): Promise<void>;
}

export interface NatsClusterOptions {
  /** Name prefix of the servers (default "mote"). */
  name?: string;
  /** Extra raw lines for every node's config. */
  extra?: string[];
}

const live = new Set<ChildProcess>();
let hooked = false;
function hook() {
  if (hooked) return;
  hooked = true;
  const killAll = () => { for (const p of live) { try { p.kill("SIGKILL"); } catch { /* gone */ } } };
  process.on("exit", killAll);
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => { killAll(); process.kill(process.pid, sig); });
  }
}

export function natsServerBinary(): string {
  for (const p of [process.env.NATS_SERVER, "/usr/sbin/nats-server", "/usr/bin/nats-server"]) if (p && fs.existsSync(p)) return p;
  throw new Error("nats-server not found: apt-get install nats-server (or set NATS_SERVER)");
}

export async function startNatsCluster(o: NatsClusterOptions = {}): Promise<NatsCluster> {
  const bin = natsServerBinary();
  hook();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mote-nats-cluster-"));
  const auth = { username: "mote", password: "mote-secret" };
  const prefix = o.name ?? "mote";
  const ports: number[] = [];
  while (ports.length < 9) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const clusterPorts = [ports[6], ports[7], ports[8]];
  const nodes: (NatsNode & { logFile: string })[] = [];
  for (let i = 0; i < 3; i++) {
    const name = `${prefix}_n${i + 1}`, ndir = path.join(dir, name);
    fs.mkdirSync(ndir);
    const conf = path.join(ndir, "nats.conf"), logFile = path.join(ndir, "nats.log");
    fs.writeFileSync(conf, [
      `server_name: ${name}`,
      `listen: "${LOOPBACK}:${ports[i]}"`,
      `jetstream { store_dir: ${JSON.stringify(path.join(ndir, "js"))} }`,
      "cluster {",
      `  name: ${prefix}_cluster`,
      `  listen: "${LOOPBACK}:${clusterPorts[i]}"`,
      `  routes: [${clusterPorts.map((p) => JSON.stringify(`nats-route://${LOOPBACK}:${p}`)).join(", ")}]`,
      "}",
      `authorization { users = [ { user: ${JSON.stringify(auth.username)}, password: ${JSON.stringify(auth.password)} } ] }`,
      `mqtt { listen: "${LOOPBACK}:${ports[3 + i]}" }`,
      ...(o.extra ?? []),
      "",
    ].join("\n"));
    let proc: ChildProcess | undefined;
    const node = {
      name, port: ports[3 + i], clientPort: ports[i], clusterPort: clusterPorts[i], logFile,
      get running() { return !!proc && proc.exitCode === null && proc.signalCode === null; },
      async start() {
        if (node.running) return;
        const fd = fs.openSync(logFile, "a");
        try {
          proc = spawn(bin, ["-c", conf], { stdio: ["ignore", fd, fd], cwd: ndir, env: { PATH: process.env.PATH } });
        } finally {
          fs.closeSync(fd);
        }
        const p = proc;
        live.add(p);
        p.once("exit", () => live.delete(p));
        await waitFor(async () => {
          if (p.exitCode !== null || p.signalCode !== null) throw new Error(`${name} exited: ${tailOf(logFile, 5)}`);
          return canConnect(node.port);
        }, 15000, `${name} MQTT port ${node.port}`, 50);
      },
      async kill() {
        const p = proc;
        if (!p || !node.running) return;
        const gone = new Promise((r) => p.once("exit", r));
        p.kill("SIGKILL");
        await gone;
      },
    };
    nodes.push(node);
  }
  await Promise.all(nodes.map((n) => n.start()));
  let version = "?";
  try { version = execFileSync(bin, ["--version"], { encoding: "utf8" }).trim().replace(/^nats-server:\s*v?/, ""); } catch { /* "?" */ }
  let stopped = false;
  const cluster: NatsCluster = {
    nodes,
    servers: nodes.map((n) => ({ host: LOOPBACK, port: n.port })),
    version,
    auth,
    byPort: (port) => nodes.find((n) => n.port === port),
    logTail: (lines = 10) => nodes.map((n) => `--- ${n.name}\n${tailOf(n.logFile, lines)}`).join("\n"),
    async ready(timeoutMs = 60000) {
      const up = nodes.filter((n) => n.running);
      const t0 = Date.now();
      await waitFor(() => crossNodeWorks(up, auth), timeoutMs, () => `MQTT on the NATS cluster (JetStream streams):\n${cluster.logTail(6)}`, 500);
      if (process.env.MOTE_TRACE) console.log(`[nats-cluster] MQTT ready on ${up.length} nodes after ${Date.now() - t0} ms`);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all(nodes.map((n) => n.kill()));
      if (!process.env.MOTE_KEEP_TMP) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}

function tailOf(file: string, n: number): string {
  try { return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-n).join("\n"); } catch { return "(no log)"; }
}

/**
 * One probe: a persistent-session QoS 1 subscriber on the last node gets a QoS 1 message published on each
 * node. Any refusal, drop or timeout is "not yet". Bounded as a whole: while JetStream is not ready, NATS may
 * leave a SUBACK or PUBACK unanswered for good, and a probe that waited for it would hang the caller.
 */
async function crossNodeWorks(up: NatsNode[], auth: { username: string; password: string }): Promise<boolean> {
  const clients: mqtt.MqttClient[] = [];
  try {
    return await withTimeout(probe(up, auth, clients), 10000, "the cross-node probe");
  } catch {
    return false;
  } finally {
    for (const c of clients) c.end(true);
  }
}

async function probe(up: NatsNode[], auth: { username: string; password: string }, clients: mqtt.MqttClient[]): Promise<boolean> {
  const id = `probe-${process.pid}-${Date.now()}`;
  const opts = { ...auth, reconnectPeriod: 0, connectTimeout: 3000 };
  const sub = await mqtt.connectAsync(`mqtt://${LOOPBACK}:${up[up.length - 1].port}`, { ...opts, clientId: id + "-s", clean: false });
  clients.push(sub);
  const got = new Set<string>();
  sub.on("message", (_t, m) => got.add(m.toString()));
  const g = await sub.subscribeAsync(`probe/${id}`, { qos: 1 });
  if (g[0].qos !== 1) return false;
  for (let i = 0; i < up.length; i++) {
    const pub = await mqtt.connectAsync(`mqtt://${LOOPBACK}:${up[i].port}`, { ...opts, clientId: `${id}-p${i}` });
    clients.push(pub);
    await pub.publishAsync(`probe/${id}`, String(i), { qos: 1 });
  }
  for (let k = 0; k < 40 && got.size < up.length; k++) await sleep(50);
  // the probe's session is removed again: a clean connect ends it
  if (got.size === up.length) {
    await sub.endAsync();
    const clean = await mqtt.connectAsync(`mqtt://${LOOPBACK}:${up[up.length - 1].port}`, { ...opts, clientId: id + "-s", clean: true });
    clients.push(clean);
  }
  return got.size === up.length;
}
