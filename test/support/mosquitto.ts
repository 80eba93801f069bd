// Private Mosquitto instances for tests: own config, data and log files in a fresh temp dir, a free
// loopback port. Never skips: when Mosquitto is missing, startMosquitto() throws (in CI and locally).
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort, waitFor, canConnect, LOOPBACK } from "./util.js";

export interface MosquittoTls {
  cafile: string;
  certfile: string;
  keyfile: string;
  /** Require a client certificate signed by `cafile` (default false). */
  requireCertificate?: boolean;
}

export interface MosquittoOptions {
  /** Keep sessions, subscriptions and queued/retained messages across restart() (default false). */
  persistence?: boolean;
  /** {user: password}: written with `mosquitto_passwd -b`; turns allow_anonymous off. */
  passwordFile?: Record<string, string>;
  /** allow_anonymous (default true, or false when passwordFile is given). */
  allowAnonymous?: boolean;
  /** TLS on the listener (see certs.ts). */
  tls?: MosquittoTls;
  max_inflight_messages?: number;
  max_keepalive?: number;
  message_size_limit?: number;
  max_queued_messages?: number;
  /** Extra raw mosquitto.conf lines, appended at the end. */
  extra?: string[];
  /** Port to listen on (default: a free one). */
  port?: number;
  /** Milliseconds to wait for the port to accept connections (default 10000). */
  startTimeoutMs?: number;
  /** Keep the temp dir after stop() (also when MOTE_KEEP_TMP is set). Default false. */
  keepDir?: boolean;
}

export interface MosquittoInstance {
  port: number;
  host: string;
  /** The temp dir holding mosquitto.conf, mosquitto.log, the password file and the persistence db. */
  dir: string;
  /** `mqtt://127.0.0.1:port` (or mqtts:// with tls). */
  url: string;
  /** Stops the broker (SIGTERM, waits for exit; SIGKILL after 5 s) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** Stops the broker (SIGTERM: it saves its persistence db) and starts it again on the same port. */
  restart(): Promise<void>;
  /** Stops the broker process but keeps the dir, so start() can bring it back later (broker down). */
  halt(): Promise<void>;
  /** SIGKILLs the broker (no persistence save) and keeps the dir; start() brings it back. */
  kill(): Promise<void>;
  /** Starts the broker again after halt()/kill() on the same port and config. */
  start(): Promise<void>;
  /** True while the broker process runs. */
  readonly running: boolean;
  /** Everything Mosquitto logged so far (all runs of this instance). */
  logs(): string;
  /** The pid of the current process (undefined when not running). */
  readonly pid: number | undefined;
}

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>(); // dirs to remove if the process ends before stop()
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort: never leave a broker behind when the test process ends without calling stop().
  const killAll = () => {
    for (const child of live) {
      try { child.kill("SIGKILL"); } catch { /* gone */ }
    }
    for (const dir of tempDirs) {
      try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
    }
  };
  process.on("exit", killAll);
  // A test process ended by a signal (runner timeout, Ctrl-C) runs no "exit" handlers: kill the brokers,
  // then let the signal do what it would have done if nobody else listens for it.
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      killAll();
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  return undefined;
}

function findExecutable(name: string, candidates: string[], envVar: string): string | undefined {
  const fromEnv = process.env[envVar];
  if (fromEnv) {
    // An explicit choice is never silently replaced by another binary.
    try {
      fs.accessSync(fromEnv, fs.constants.X_OK);
      return fromEnv;
    } catch {
      return undefined;
    }
  }
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return c;
    } catch { /* next */ }
  }
  return onPath(name);
}

const INSTALL_HINT = "install it with `apt-get install mosquitto` (Debian package `mosquitto`; .ci/run does this)";

/** Path of the mosquitto binary ($MOSQUITTO, /usr/sbin/mosquitto, or PATH); throws when absent. */
export function mosquittoPath(): string {
  const p = findExecutable("mosquitto", ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"], "MOSQUITTO");
  if (!p) {
    const where = process.env.CI ? "CI is set, so this test fails instead of skipping" : "tests never skip";
    throw new Error(`Mosquitto not found (looked at $MOSQUITTO, /usr/sbin/mosquitto, PATH): ${INSTALL_HINT}; ${where}.`);
  }
  return p;
}

/** Path of mosquitto_passwd ($MOSQUITTO_PASSWD, /usr/bin/mosquitto_passwd, or PATH); throws when absent. */
export function mosquittoPasswdPath(): string {
  const p = findExecutable("mosquitto_passwd", ["/usr/bin/mosquitto_passwd", "/usr/sbin/mosquitto_passwd"], "MOSQUITTO_PASSWD");
  if (!p) throw new Error(`mosquitto_passwd not found: ${INSTALL_HINT}.`);
  return p;
}

function writePasswordFile(file: string, users: Record<string, string>): void {
  const bin = mosquittoPasswdPath();
  const names = Object.keys(users);
  if (names.length === 0) throw new Error("passwordFile needs at least one user");
  fs.writeFileSync(file, "", { mode: 0o600 });
  for (const user of names) {
    // -b: password on the command line (throwaway test credentials only).
    execFileSync(bin, ["-b", file, user, users[user]], { stdio: ["ignore", "ignore", "pipe"] });
  }
}

function buildConfig(o: MosquittoOptions, dir: string, port: number, passwdFile: string | undefined): string {
  const lines: string[] = [];
  lines.push("# generated by test/support/mosquitto.ts");
  // Running as root, Mosquitto 2 drops to user "mosquitto", which cannot write into our 0700 temp dir.
  if (typeof process.getuid === "function" && process.getuid() === 0) lines.push("user root");
  lines.push(`listener ${port} ${LOOPBACK}`);
  if (o.tls) {
    lines.push(`cafile ${o.tls.cafile}`, `certfile ${o.tls.certfile}`, `keyfile ${o.tls.keyfile}`);
    if (o.tls.requireCertificate) lines.push("require_certificate true");
  }
  const anonymous = o.allowAnonymous ?? !passwdFile;
  lines.push(`allow_anonymous ${anonymous ? "true" : "false"}`);
  if (passwdFile) lines.push(`password_file ${passwdFile}`);
  if (o.persistence) {
    lines.push("persistence true", `persistence_location ${dir}${path.sep}`, "autosave_interval 0");
  } else {
    lines.push("persistence false");
  }
  if (o.max_inflight_messages !== undefined) lines.push(`max_inflight_messages ${o.max_inflight_messages}`);
  if (o.max_keepalive !== undefined) lines.push(`max_keepalive ${o.max_keepalive}`);
  if (o.message_size_limit !== undefined) lines.push(`message_size_limit ${o.message_size_limit}`);
  if (o.max_queued_messages !== undefined) lines.push(`max_queued_messages ${o.max_queued_messages}`);
  lines.push("log_dest stderr", "log_type all", "connection_messages true", "log_timestamp true");
  for (const l of o.extra ?? []) lines.push(l);
  return lines.join("\n") + "\n";
}

/** Starts a private Mosquitto; resolves once its port accepts TCP connections. */
export async function startMosquitto(opts: MosquittoOptions = {}): Promise<MosquittoInstance> {
  const bin = mosquittoPath();
  installExitHook();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mote-mosquitto-"));
  const confFile = path.join(dir, "mosquitto.conf");
  const logFile = path.join(dir, "mosquitto.log");
  let passwdFile: string | undefined;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stopped = false;
  let logCache = "";
  const keepDir = !!opts.keepDir || !!process.env.MOTE_KEEP_TMP;
  if (!keepDir) tempDirs.add(dir);

  try {
    if (opts.passwordFile) {
      passwdFile = path.join(dir, "passwd");
      writePasswordFile(passwdFile, opts.passwordFile);
    }
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
    throw e;
  }

  const readLogs = (): string => {
    try { return fs.readFileSync(logFile, "latin1"); } catch { return logCache; }
  };

  const launch = async (port: number): Promise<void> => {
    fs.writeFileSync(confFile, buildConfig(opts, dir, port, passwdFile));
    const fd = fs.openSync(logFile, "a");
    let proc: ChildProcess;
    try {
      proc = spawn(bin, ["-c", confFile], { stdio: ["ignore", fd, fd], cwd: dir });
    } finally {
      fs.closeSync(fd);
    }
    child = proc;
    live.add(proc);
    let exitInfo: string | undefined;
    exited = new Promise<void>((resolve) => {
      proc.once("exit", (code, signal) => {
        exitInfo = signal ? `signal ${signal}` : `code ${code}`;
        live.delete(proc);
        if (child === proc) child = undefined;
        resolve();
      });
      proc.once("error", (err) => {
        exitInfo = `spawn error ${err.message}`;
        live.delete(proc);
        if (child === proc) child = undefined;
        resolve();
      });
    });
    try {
      await waitFor(
        async () => {
          if (exitInfo) throw new Error(`mosquitto exited (${exitInfo})`);
          return canConnect(port);
        },
        opts.startTimeoutMs ?? 10000,
        `mosquitto to listen on ${LOOPBACK}:${port}`,
        20,
      );
    } catch (e) {
      if (child === proc) await terminate("SIGKILL");
      const log = readLogs().split("\n").slice(-15).join("\n");
      throw new Error(`${(e as Error).message}\n--- ${logFile} (tail) ---\n${log}`);
    }
  };

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    if (!proc) return;
    proc.kill(signal);
    const timer = setTimeout(() => { try { proc.kill("SIGKILL"); } catch { /* gone */ } }, 5000);
    await exited;
    clearTimeout(timer);
  };

  // Pick a free port; retry a few times in case another process grabbed it between probe and bind.
  let port = opts.port ?? 0;
  for (let attempt = 0; ; attempt++) {
    if (!opts.port) port = await freePort();
    try {
      await launch(port);
      break;
    } catch (e) {
      const inUse = /Address already in use/i.test(readLogs());
      if (opts.port || !inUse || attempt >= 4) {
        if (!keepDir) fs.rmSync(dir, { recursive: true, force: true });
        tempDirs.delete(dir);
        throw e;
      }
    }
  }

  const instance: MosquittoInstance = {
    port,
    host: LOOPBACK,
    dir,
    url: `${opts.tls ? "mqtts" : "mqtt"}://${LOOPBACK}:${port}`,
    get running() { return !!child; },
    get pid() { return child?.pid; },
    logs: readLogs,
    async halt() { await terminate("SIGTERM"); },
    async kill() { await terminate("SIGKILL"); },
    async start() {
      if (stopped) throw new Error("mosquitto instance was stopped; start a new one");
      if (child) return;
      await launch(port);
    },
    async restart() {
      await instance.halt();
      await instance.start();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await terminate("SIGTERM");
      logCache = readLogs();
      if (!keepDir) fs.rmSync(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    },
  };
  return instance;
}
