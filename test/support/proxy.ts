// Loopback TCP fault-injection proxy: client <-> proxy <-> broker.
//
// Directions: "up" = client -> broker, "down" = broker -> client, "both".
// Every behaviour is per direction and applies to all current and future connections:
//   mode("pass" | "bytes" | "random", dir)   how writes are split (random sizes are seedable)
//   delay(ms, dir)                           hold every chunk ms before forwarding
//   pause(dir, {drop}) / resume(dir)         stop forwarding, sockets stay open (half-open link)
//   cut("fin" | "reset", side)               end or reset every connection
//   refuse(ms?, how) / accept()              new connections are reset / closed / not listened for
//   inject(bytes, toward)                    raw bytes to the client (as if from the broker) or to the broker
// plus counters: accepted connections with timestamps (for backoff assertions), bytes per direction.
import net from "node:net";
import { LOOPBACK, seededRandom, waitFor } from "./util.js";

export type Direction = "up" | "down" | "both";
export type SplitMode = "pass" | "bytes" | "random";

export interface LaneSettings {
  /** How each received chunk is cut before being written: whole, 1-byte pieces, random sizes. */
  split: SplitMode;
  /** Largest random piece, bytes (default 64). */
  maxChunk: number;
  /** Delay before a chunk is forwarded, ms (default 0). */
  delayMs: number;
  /** Forwarding stopped (socket stays open). */
  paused: boolean;
  /** While paused, discard what arrives instead of holding it for resume(). */
  drop: boolean;
}

export interface ProxyOptions {
  targetPort: number;
  targetHost?: string;
  /** Seed for the random splitter (default 1): same seed and input, same pieces. */
  seed?: number;
  /** Port to listen on (default: a free one). */
  port?: number;
}

export interface ProxyConnection {
  id: number;
  at: number;
  client: net.Socket;
  upstream: net.Socket;
  /** Both sockets closed. */
  closed: boolean;
}

export interface Proxy {
  port: number;
  host: string;
  url: string;
  /** Set the split mode for a direction (default both). "pass" also clears delay and pause. */
  mode(split: SplitMode, dir?: Direction, opts?: { maxChunk?: number }): void;
  /** Delay every chunk in a direction by ms (0 = none). */
  delay(ms: number, dir?: Direction): void;
  /** Stop forwarding in a direction, keeping sockets open. Held data is delivered on resume unless drop. */
  pause(dir?: Direction, opts?: { drop?: boolean }): void;
  resume(dir?: Direction): void;
  /** Current settings of one direction. */
  settings(dir: "up" | "down"): LaneSettings;
  /**
   * Cut every open connection: "fin" ends the sockets (FIN), "reset" destroys them with RST.
   * side: "both" (default), "client" (only the client's socket; the broker keeps its side open and sees
   * nothing) or "broker" (only the broker's socket; the client keeps an idle open socket).
   */
  cut(how?: "fin" | "reset", side?: "both" | "client" | "broker"): Promise<void>;
  /**
   * Refuse new connections (for ms, or until accept()). how: "reset" (accept, then RST at once: counted in
   * attempts), "fin" (accept, then FIN at once: counted), "unlisten" (stop listening: the client gets
   * ECONNREFUSED, attempts cannot be counted).
   */
  refuse(ms?: number, how?: "reset" | "fin" | "unlisten"): Promise<void>;
  /** Accept new connections again. */
  accept(): Promise<void>;
  /** Writes raw bytes on every open connection, at once (bypasses split/delay/pause). Default toward the client. */
  inject(bytes: string | Uint8Array, toward?: "client" | "broker"): number;
  /** Timestamps (Date.now()) of every accepted TCP connection, refused ones included. */
  readonly attempts: number[];
  /** Number of connections accepted so far (attempts.length). */
  readonly accepted: number;
  /** Accepted connections since time t (ms epoch). */
  attemptsSince(t: number): number;
  /** Connections with at least one socket still open. */
  readonly active: number;
  /** All connections ever forwarded (refused ones excluded). */
  readonly connections: ProxyConnection[];
  /** Bytes forwarded per direction (injected bytes excluded). */
  readonly bytes: { up: number; down: number };
  /** Waits until `accepted` reaches n. */
  waitForAccepted(n: number, timeoutMs?: number): Promise<void>;
  /** Waits until `active` equals n. */
  waitForActive(n: number, timeoutMs?: number): Promise<void>;
  /** Cuts everything (reset), stops listening. Idempotent. */
  close(): Promise<void>;
}

export { seededRandom }; // the seed behind mode("random"), re-exported for the proxy self-test

interface Piece {
  data: Buffer;
  due: number;
  pace: boolean;
}

/** One direction of one connection: a FIFO of pieces written in order, honouring pause/delay/pacing. */
class Lane {
  private queue: Piece[] = [];
  private busy = false;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private endWhenDrained = false;
  dead = false;

  constructor(
    private readonly dest: net.Socket,
    private readonly settings: LaneSettings,
    private readonly random: () => number,
    private readonly count: (n: number) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.dead) return;
    const s = this.settings;
    if (s.paused && s.drop) return;
    const due = Date.now() + s.delayMs;
    if (s.split === "pass") {
      this.queue.push({ data: chunk, due, pace: false });
      this.pump();
    } else {
      let i = 0;
      while (i < chunk.length) {
        const n = s.split === "bytes" ? 1 : 1 + Math.floor(this.random() * Math.max(1, s.maxChunk));
        this.queue.push({ data: chunk.subarray(i, i + n), due, pace: true });
        i += n;
      }
      // Not now: a piece written during this poll phase could be read together with the next one.
      this.kick();
    }
  }

  /** Run pump() on the next check phase: one paced piece per event-loop turn. */
  private kick(): void {
    if (this.dead || this.busy) return;
    this.busy = true;
    this.immediate = setImmediate(() => { this.immediate = undefined; this.busy = false; this.pump(); });
  }

  /** End the destination once everything queued before now was written (FIN propagation). */
  endAfterDrain(): void {
    this.endWhenDrained = true;
    this.pump();
  }

  kill(): void {
    this.dead = true;
    this.queue = [];
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  pump(): void {
    if (this.dead || this.busy) return;
    if (this.settings.paused) return;
    while (this.queue.length > 0) {
      const p = this.queue[0];
      const wait = p.due - Date.now();
      if (wait > 0) {
        this.busy = true;
        this.timer = setTimeout(() => { this.timer = undefined; this.busy = false; this.pump(); }, wait);
        return;
      }
      this.queue.shift();
      if (this.dest.destroyed || !this.dest.writable) { this.kill(); return; }
      this.dest.write(p.data);
      this.count(p.data.length);
      if (p.pace && this.queue.length > 0) {
        // One piece per event-loop turn so the receiver really reads small pieces.
        this.kick();
        return;
      }
      if (this.settings.paused) return;
    }
    if (this.endWhenDrained && !this.dest.destroyed) {
      this.endWhenDrained = false;
      this.dest.end();
    }
  }
}

function defaultLane(): LaneSettings {
  return { split: "pass", maxChunk: 64, delayMs: 0, paused: false, drop: false };
}

function lanesOf(dir: Direction): Array<"up" | "down"> {
  return dir === "both" ? ["up", "down"] : [dir];
}

interface ConnState extends ProxyConnection {
  up: Lane;
  down: Lane;
  killTimer?: NodeJS.Timeout;
}

export async function startProxy(opts: ProxyOptions): Promise<Proxy> {
  const targetHost = opts.targetHost ?? LOOPBACK;
  const settings = { up: defaultLane(), down: defaultLane() };
  const random = seededRandom(opts.seed ?? 1);
  const attempts: number[] = [];
  const conns: ConnState[] = [];
  const open = new Set<ConnState>();
  const strays = new Set<net.Socket>(); // refused sockets not yet closed
  const bytes = { up: 0, down: 0 };
  let refusing: "reset" | "fin" | "unlisten" | undefined;
  let refuseTimer: NodeJS.Timeout | undefined;
  let listening = false;
  let closed = false;
  let nextId = 1;
  let port = opts.port ?? 0;

  const hardClose = (s: net.Socket) => {
    if (s.destroyed) return;
    if (typeof s.resetAndDestroy === "function" && s.readyState !== "opening") s.resetAndDestroy();
    else s.destroy();
  };

  const onConnection = (client: net.Socket) => {
    attempts.push(Date.now());
    client.on("error", () => {});
    if (refusing || closed) {
      strays.add(client);
      client.on("close", () => strays.delete(client));
      if (refusing === "fin") client.end();
      else hardClose(client);
      return;
    }
    client.setNoDelay(true);
    // Half-open allowed on both sockets: a FIN is forwarded as a FIN, after the data queued before it.
    const upstream = net.connect({ port: opts.targetPort, host: targetHost, allowHalfOpen: true });
    upstream.setNoDelay(true);
    upstream.on("error", () => {});
    const conn: ConnState = {
      id: nextId++,
      at: Date.now(),
      client,
      upstream,
      closed: false,
      up: new Lane(upstream, settings.up, random, (n) => { bytes.up += n; }),
      down: new Lane(client, settings.down, random, (n) => { bytes.down += n; }),
    };
    conns.push(conn);
    open.add(conn);

    client.on("data", (d: Buffer) => conn.up.push(d));
    upstream.on("data", (d: Buffer) => conn.down.push(d));
    client.on("end", () => conn.up.endAfterDrain());
    upstream.on("end", () => conn.down.endAfterDrain());

    // An abrupt close (error / reset / broker unreachable) of one side resets the other side.
    let clientClosed = false;
    let upstreamClosed = false;
    const settle = () => {
      if (clientClosed && upstreamClosed) {
        conn.closed = true;
        conn.up.kill();
        conn.down.kill();
        if (conn.killTimer) clearTimeout(conn.killTimer);
        open.delete(conn);
      }
    };
    client.on("close", (hadError) => {
      clientClosed = true;
      conn.down.kill(); // nothing can be written to the client any more
      if (hadError) hardClose(upstream);
      settle();
    });
    upstream.on("close", (hadError) => {
      upstreamClosed = true;
      conn.up.kill(); // nothing can be written to the broker any more
      if (hadError) hardClose(client);
      settle();
    });
    // A broker that never answered the connect: reset the client.
    upstream.on("error", () => hardClose(client));
  };

  const server = net.createServer({ noDelay: true, allowHalfOpen: true }, onConnection);

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, LOOPBACK, () => {
        server.removeListener("error", reject);
        const a = server.address();
        port = typeof a === "object" && a ? a.port : port;
        listening = true;
        resolve();
      });
    });
  const unlisten = () =>
    new Promise<void>((resolve) => {
      if (!listening) return resolve();
      listening = false;
      server.close(() => resolve());
    });

  await listen();

  const cutOne = (c: ConnState, how: "fin" | "reset", side: "both" | "client" | "broker") => {
    const sockets = side === "both" ? [c.client, c.upstream] : side === "client" ? [c.client] : [c.upstream];
    // Nothing more is forwarded either way, FINs included: with side "client" the broker keeps an idle
    // open connection, with side "broker" the client does.
    c.up.kill();
    c.down.kill();
    for (const s of sockets) {
      if (how === "reset") hardClose(s);
      else if (!s.destroyed) s.end();
    }
    if (how === "fin" && !c.killTimer) {
      // A peer that never answers our FIN must not keep the socket (and the test process) alive.
      c.killTimer = setTimeout(() => { for (const s of sockets) s.destroy(); }, 2000);
    }
  };

  const proxy: Proxy = {
    get port() { return port; },
    host: LOOPBACK,
    get url() { return `mqtt://${LOOPBACK}:${port}`; },
    mode(split, dir = "both", o = {}) {
      for (const l of lanesOf(dir)) {
        settings[l].split = split;
        if (o.maxChunk !== undefined) settings[l].maxChunk = o.maxChunk;
        if (split === "pass") {
          settings[l].delayMs = 0;
        }
      }
      if (split === "pass") proxy.resume(dir);
    },
    delay(ms, dir = "both") {
      for (const l of lanesOf(dir)) settings[l].delayMs = ms;
    },
    pause(dir = "both", o = {}) {
      for (const l of lanesOf(dir)) {
        settings[l].paused = true;
        settings[l].drop = !!o.drop;
      }
    },
    resume(dir = "both") {
      for (const l of lanesOf(dir)) {
        settings[l].paused = false;
        settings[l].drop = false;
      }
      for (const c of open) {
        for (const l of lanesOf(dir)) c[l].pump();
      }
    },
    settings(dir) { return { ...settings[dir] }; },
    async cut(how = "reset", side = "both") {
      const victims = [...open];
      for (const c of victims) cutOne(c, how, side);
      if (side === "both") {
        await waitFor(() => victims.every((c) => c.closed), 5000, `proxy connections to close after cut(${how})`);
      }
    },
    async refuse(ms, how = "reset") {
      if (refuseTimer) clearTimeout(refuseTimer);
      refuseTimer = undefined;
      refusing = how;
      if (how === "unlisten") await unlisten();
      else if (!listening && !closed) await listen(); // reset/fin need the listener, to count attempts
      if (ms !== undefined) {
        refuseTimer = setTimeout(() => { refuseTimer = undefined; void proxy.accept(); }, ms);
      }
    },
    async accept() {
      if (refuseTimer) clearTimeout(refuseTimer);
      refuseTimer = undefined;
      refusing = undefined;
      if (!listening && !closed) await listen();
    },
    inject(data, toward = "client") {
      const buf = typeof data === "string" ? Buffer.from(data, "latin1") : Buffer.from(data);
      let n = 0;
      for (const c of open) {
        const s = toward === "client" ? c.client : c.upstream;
        if (!s.destroyed && s.writable) { s.write(buf); n++; }
      }
      return n;
    },
    get attempts() { return attempts; },
    get accepted() { return attempts.length; },
    attemptsSince(t) { return attempts.filter((a) => a >= t).length; },
    get active() { return open.size; },
    get connections() { return conns; },
    get bytes() { return bytes; },
    waitForAccepted(n, timeoutMs = 5000) {
      return waitFor(() => attempts.length >= n, timeoutMs, () => `${n} proxy connections (accepted ${attempts.length})`);
    },
    waitForActive(n, timeoutMs = 5000) {
      return waitFor(() => open.size === n, timeoutMs, () => `${n} active proxy connections (active ${open.size})`);
    },
    async close() {
      if (closed) return;
      closed = true;
      if (refuseTimer) clearTimeout(refuseTimer);
      for (const c of [...open]) cutOne(c, "reset", "both");
      for (const s of strays) s.destroy();
      await unlisten();
      await waitFor(() => open.size === 0, 5000, "proxy connections to close");
    },
  };
  return proxy;
}
