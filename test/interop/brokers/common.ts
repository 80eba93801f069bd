// Shared pieces of the interop broker launchers: the Broker interface every launcher returns (with the
// broker's measured deviations from MQTT 3.1.1 as data, so scenarios adapt instead of special-casing
// names), private temp dirs, detached child processes killed as a whole process group, a private epmd
// for the Erlang brokers, and a last-resort exit hook so no broker outlives the runner.
//
// Nothing here touches the machine's defaults: every broker gets its own dir (config, data, logs, HOME
// for the Erlang cookie), listens on 127.0.0.1 only, and the Erlang ones use their own epmd port.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { canConnect, freePort, sleep, LOOPBACK } from "../../support/util.js";

export type BrokerId = "mosquitto" | "aedes" | "rabbitmq" | "nats" | "ejabberd" | "nats-cluster";

/** How a broker departs from MQTT 3.1.1 (measured; see /work/shared/espruino-facts.md "Broker facts"). */
export interface Quirks {
  /** What a QoS 2 PUBLISH from a client gets: the spec's PUBREC, a PUBACK (QoS 1 handling), or a dropped connection. */
  qos2Publish: "pubrec" | "puback" | "disconnect";
  /** Highest QoS granted to a subscription (a QoS 2 request gets this). */
  maxGrantedQos: 1 | 2;
  /** Retained messages reach wildcard subscriptions too (false: exact-topic subscriptions only). */
  retainedToWildcards: boolean;
  /**
   * How an unauthorised SUBSCRIBE is answered for `forbiddenFilter`: SUBACK 0x80 (3.1.1), SUBACK 0x8F (an MQTT 5
   * reason code sent to a 3.1.1 client), the connection closed, or "none" (the broker cannot refuse one).
   */
  subscribeRefusal: "suback-0x80" | "suback-0x8f" | "close" | "none";
  /** Why the broker cannot refuse a subscribe (subscribeRefusal "none"). */
  subscribeRefusalNote?: string;
  /** Persistent sessions (and their queued messages) survive a broker restart. */
  sessionSurvivesRestart: boolean;
  /**
   * When the broker drops a client that went silent: after `factor` x keep-alive (1.5 in MQTT 3.1.1) plus up
   * to `slackS` seconds (a periodic check); `note` says what users see when it is not the spec's 1.5x.
   */
  silentDrop: { factor: number; slackS: number; note?: string };
}

/** MQTT 3.1.1: a client silent for 1.5x its keep-alive is disconnected (and its will published). */
export const SPEC_SILENT_DROP = { factor: 1.5, slackS: 0 };

/**
 * A broker's quirks: what MQTT 3.1.1 asks for (PUBREC to a QoS 2 publish, QoS 2 granted, retained messages
 * to wildcard subscriptions too, SUBACK 0x80 for a refused filter, the spec's silent drop) with the
 * broker's measured departures from it in `q`.
 */
export function quirks(q: Partial<Quirks> & Pick<Quirks, "sessionSurvivesRestart">): Quirks {
  return {
    qos2Publish: "pubrec",
    maxGrantedQos: 2,
    retainedToWildcards: true,
    subscribeRefusal: "suback-0x80",
    silentDrop: SPEC_SILENT_DROP,
    ...q,
  };
}

export interface Credentials {
  username: string;
  password: string;
}

/** The user every interop broker is set up with. */
export const USER: Credentials = { username: "mote", password: "mote-secret" };

/**
 * The parts of a Broker every launcher sets alike: USER (a wrong password for badAuth), the refused
 * filter "forbidden/x" and the topic root "it" (each broker's config allows or refuses these).
 */
export const ACCESS: Pick<Broker, "auth" | "badAuth" | "forbiddenFilter" | "topicRoot"> = {
  auth: USER,
  badAuth: { username: USER.username, password: "wrong" },
  forbiddenFilter: "forbidden/x",
  topicRoot: "it",
};

/** host, port and url of a broker listening on `port` on the loopback address. */
export function loopbackEndpoint(port: number): Pick<Broker, "host" | "port" | "url"> {
  return { host: LOOPBACK, port, url: `mqtt://${LOOPBACK}:${port}` };
}

export interface Broker {
  id: BrokerId;
  /** Product name as shown in the matrix. */
  name: string;
  /** Version reported by the broker itself (or its package). */
  version: string;
  host: string;
  port: number;
  url: string;
  /** Credentials every client uses (all brokers here run with authentication on). */
  auth: Credentials;
  /** Credentials the broker refuses (wrong password). */
  badAuth: Credentials;
  /** A topic filter the broker refuses to this user (when it can refuse; see quirks.subscribeRefusal). */
  forbiddenFilter: string;
  /** Topics the scenarios use start with this (ejabberd's access rules allow only it). */
  topicRoot: string;
  quirks: Quirks;
  /** Stop and start again on the same port with the same data (persistent state kept). */
  restart(): Promise<void>;
  /** Stop for good and remove the private dir (idempotent). */
  stop(): Promise<void>;
  /** The last lines of the broker's log (for failure reports). */
  logTail(lines?: number): string;
  /** A cluster reached through several addresses (host/port: the first node); absent for one broker. */
  cluster?: {
    /** Every node's MQTT listener, in order (the client's `servers` option). */
    servers: { host: string; port: number }[];
    /** SIGKILL the node listening on `port` (a crash). */
    kill(port: number): Promise<void>;
    /** Start the killed nodes again and wait until MQTT works on all of them. */
    heal(): Promise<void>;
  };
}

// ------------------------------------------------------------------------------ last-resort cleanup

const liveGroups = new Set<number>();
const liveDirs = new Set<string>();
const finalizers = new Set<() => void>();
let hooked = false;

function killEverything(): void {
  for (const f of finalizers) { try { f(); } catch { /* best effort */ } }
  for (const pgid of liveGroups) { try { process.kill(-pgid, "SIGKILL"); } catch { /* gone */ } }
  liveGroups.clear();
  if (!process.env.MOTE_KEEP_TMP) {
    for (const d of liveDirs) { try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* best effort */ } }
  }
  liveDirs.clear();
}

function installHook(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", killEverything);
  // Interrupted (Ctrl-C, CI timeout): kill every broker and end the process. process.exit() also runs the
  // "exit" hooks of the shared launchers (test/support/mosquitto.ts), whose signal handlers alone would
  // not end the process while ours is registered too.
  const codes = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      console.error(`\ninterop: ${sig}: stopping the brokers`);
      killEverything();
      process.exit(codes[sig]);
    });
  }
}

/** Runs `fn` when the process exits without a proper stop (in-process brokers). Returns an unregister function. */
export function onAbort(fn: () => void): () => void {
  installHook();
  finalizers.add(fn);
  return () => finalizers.delete(fn);
}

/** A fresh private dir, removed by removeDir() or at exit (kept when MOTE_KEEP_TMP is set). */
export function privateDir(prefix: string): string {
  installHook();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mote-interop-${prefix}-`));
  liveDirs.add(dir);
  return dir;
}

export function removeDir(dir: string): void {
  liveDirs.delete(dir);
  if (!process.env.MOTE_KEEP_TMP) fs.rmSync(dir, { recursive: true, force: true });
}

// ------------------------------------------------------------------------------ processes

export interface Proc {
  child: ChildProcess;
  pid: number;
  /** Resolves when the process exited (with a description of how). */
  exited: Promise<string>;
  /** Set once it exited. */
  exitInfo?: string;
  /** SIGTERM to the whole process group; SIGKILL after `graceMs`; resolves when the leader exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL to the whole process group. */
  kill(): Promise<void>;
}

/**
 * Spawns `cmd` in its own process group (so a wrapper script and the VM it starts die together), stdout
 * and stderr appended to `logFile`, stdin closed.
 */
export function spawnGroup(cmd: string, args: string[], o: { cwd: string; env: NodeJS.ProcessEnv; logFile: string }): Proc {
  installHook();
  const fd = fs.openSync(o.logFile, "a");
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { cwd: o.cwd, env: o.env, stdio: ["ignore", fd, fd], detached: true });
  } finally {
    fs.closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${cmd}`);
  liveGroups.add(pid);
  const proc: Proc = {
    child,
    pid,
    exited: new Promise<string>((resolve) => {
      child.once("exit", (code, signal) => {
        proc.exitInfo = signal ? `killed by ${signal}` : `exit code ${code}`;
        resolve(proc.exitInfo);
      });
      child.once("error", (e) => {
        proc.exitInfo = `spawn error: ${e.message}`;
        resolve(proc.exitInfo);
      });
    }),
    async stop(graceMs = 10000) {
      if (proc.exitInfo === undefined) {
        try { process.kill(-pid, "SIGTERM"); } catch { /* gone */ }
        const timer = setTimeout(() => { try { process.kill(-pid, "SIGKILL"); } catch { /* gone */ } }, graceMs);
        await proc.exited;
        clearTimeout(timer);
      }
      // Whatever else is left in the group (an Erlang VM behind a wrapper script).
      try { process.kill(-pid, "SIGKILL"); } catch { /* none left */ }
      liveGroups.delete(pid);
    },
    async kill() {
      try { process.kill(-pid, "SIGKILL"); } catch { /* gone */ }
      await proc.exited;
      liveGroups.delete(pid);
    },
  };
  return proc;
}

/**
 * Waits until `port` accepts TCP connections and `ready()` (if given) is true; fails early when the
 * process exits, and after `timeoutMs` with the tail of `logFile`.
 */
export async function waitReady(proc: Proc, port: number, timeoutMs: number, logFile: string, what: string,
  ready?: () => boolean): Promise<void> {
  const start = Date.now();
  for (;;) {
    if (proc.exitInfo !== undefined) throw new Error(`${what} exited during start (${proc.exitInfo})\n${tail(logFile, 15)}`);
    if ((!ready || ready()) && await canConnect(port)) return;
    if (Date.now() - start > timeoutMs) {
      throw new Error(`${what} did not listen on ${LOOPBACK}:${port} within ${timeoutMs} ms\n${tail(logFile, 15)}`);
    }
    await sleep(100);
  }
}

/** restart() and stop() of a Broker run as a child process (see superviseProcess). */
export interface Supervised {
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a broker process and returns its restart() and stop(). `launch` spawns the process, hands it
 * to `own` (so it is stopped whatever happens next) and waits until the broker is ready; `graceMs` is how
 * long a SIGTERM'd broker gets to shut down cleanly before SIGKILL. When the first start fails, the
 * process, `epmd` (if any) and `dir` are removed and the error is rethrown. restart() stops the process and
 * launches it again (same ports, same dir); stop() also stops `epmd` and removes `dir` (idempotent).
 */
export async function superviseProcess(launch: (own: (p: Proc) => Proc) => Promise<void>,
  o: { graceMs: number; dir: string; epmd?: Epmd }): Promise<Supervised> {
  let proc: Proc | undefined;
  let stopped = false;
  const own = (p: Proc) => (proc = p);
  const halt = async () => {
    if (proc) await proc.stop(o.graceMs);
    proc = undefined;
  };
  const release = async () => {
    await halt();
    if (o.epmd) await o.epmd.stop();
    removeDir(o.dir);
  };
  try {
    await launch(own);
  } catch (e) {
    await release();
    throw e;
  }
  return {
    async restart() {
      await halt();
      await launch(own);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await release();
    },
  };
}

/** Size of `file` in bytes (0 when missing): where text appended later starts. */
export function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** The text appended to `file` after byte offset `from` ("" when the file is missing). */
export function textSince(file: string, from: number): string {
  try {
    const fd = fs.openSync(file, "r");
    try {
      const size = fs.fstatSync(fd).size;
      const buf = Buffer.alloc(Math.max(0, size - from));
      fs.readSync(fd, buf, 0, buf.length, from);
      return buf.toString("utf8");
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return "";
  }
}

/** The last `lines` lines of a text file ("" when missing). */
export function tail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, "utf8").split("\n").slice(-lines - 1).join("\n");
  } catch {
    return "";
  }
}

/** Path of an executable from $ENVVAR, a list of candidates or PATH; undefined when absent. */
export function findExecutable(name: string, candidates: string[], envVar: string): string | undefined {
  const fromEnv = process.env[envVar];
  const list = fromEnv ? [fromEnv] : [...candidates, ...(process.env.PATH ?? "").split(path.delimiter).filter(Boolean).map((d) => path.join(d, name))];
  for (const p of list) {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  return undefined;
}

/** Version of a Debian package ("" when dpkg does not know it). */
export function debianVersion(pkg: string): string {
  try {
    return execFileSync("dpkg-query", ["-W", "-f", "${Version}", pkg], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "";
  }
}

/** Distinct free loopback ports. */
export async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  while (out.length < n) {
    const p = await freePort();
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

// ------------------------------------------------------------------------------ Erlang

export interface Epmd {
  port: number;
  stop(): Promise<void>;
}

/**
 * A private Erlang port mapper on a free loopback port, run in the foreground as our own child (so it
 * is stopped with the broker, never left as a daemon). Nodes find it through ERL_EPMD_PORT.
 */
export async function startEpmd(dir: string): Promise<Epmd> {
  const bin = findExecutable("epmd", ["/usr/bin/epmd", "/usr/lib/erlang/bin/epmd"], "EPMD");
  if (!bin) throw new Error("epmd not found (it comes with the Erlang runtime the broker package depends on)");
  const [port] = await freePorts(1);
  const logFile = path.join(dir, "epmd.log");
  const proc = spawnGroup(bin, ["-port", String(port), "-address", LOOPBACK], {
    cwd: dir, env: { ...process.env, ERL_EPMD_PORT: String(port) }, logFile,
  });
  await waitReady(proc, port, 5000, logFile, "epmd");
  return { port, stop: () => proc.stop(2000) };
}

/** Environment for an Erlang VM confined to `dir` (HOME holds its cookie) and the private epmd. */
export function erlangEnv(dir: string, epmd: Epmd): NodeJS.ProcessEnv {
  const home = path.join(dir, "home");
  fs.mkdirSync(home, { recursive: true });
  return {
    PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    LANG: process.env.LANG ?? "C.UTF-8",
    HOME: home,
    ERL_EPMD_PORT: String(epmd.port),
    ERL_EPMD_ADDRESS: LOOPBACK,
  };
}

/** A short random suffix for node names. */
export function nodeSuffix(): string {
  return Math.random().toString(36).slice(2, 8);
}
