// Harness for the session integration tests: the BUILT firmware/mote-mqtt.js running in the host
// simulator (an ESP32 SimBoard), its client's events recorded with timestamps, plus cleanup helpers.
//
//   const env = cleanup(t);                              // everything added runs in t.after, last first
//   const mosq = env.add(await startMosquitto(), (m) => m.stop());
//   const dev = env.add(device(mosq.port, { client_id: "d1" }), (d) => d.close());
//   await dev.connect();
//   const from = dev.mark();
//   dev.client.publish("a", "b", { qos: 1 });
//   await dev.waitEvent("publish", { from });
//
// The client lives in the board's realm: options are rebuilt there from JSON, events reach the host
// through the board's queued emit (as on Espruino), and its values (errors, packets) belong to that
// realm, so they are compared by content, never with instanceof.
import fs from "node:fs";
import path from "node:path";
import { SimBoard, repoRoot } from "../../src/host/index.js";
import type { SimBoardOptions } from "../../src/host/index.js";
import type { MqttClient } from "mqtt";
import { remainingLength } from "../support/util.js";

/** Every event the client emits. */
export const EVENTS = [
  "connected", "disconnected", "publish", "message", "subscribed", "subscribe_failed", "unsubscribed", "error", "drain",
] as const;
export type EventName = typeof EVENTS[number];

export interface DeviceEvent {
  name: EventName;
  /** The handler's arguments (board-realm values; a "publish" packet is copied into a plain object). */
  args: any[];
  /** Date.now() when the handler ran. */
  at: number;
}

export interface Published {
  topic: string;
  message: string;
  qos: number;
  retain: boolean;
  dup: boolean;
}

export interface Stats {
  sent: number;
  received: number;
  dropped: number;
  oversize: number;
  reconnects: number;
  inflight: number;
  queued: number;
  connected: boolean;
}

/** Path of the built module; fails clearly when the build is missing. */
export function firmwarePath(): string {
  // MOTE_FIRMWARE=/path/x.js runs the tests against another build (a debug build, a mutant).
  const file = process.env.MOTE_FIRMWARE ? path.resolve(process.env.MOTE_FIRMWARE) : path.join(repoRoot(), "firmware", "mote-mqtt.js");
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first`);
  return file;
}

/** Binary string of the byte values 0..255. */
export function allBytes(): string {
  let s = "";
  for (let i = 0; i < 256; i++) s += String.fromCharCode(i);
  return s;
}

export class Device {
  readonly board: SimBoard;
  /** The client object (board realm): publish/subscribe/... can be called on it directly. */
  readonly client: any;
  readonly events: DeviceEvent[] = [];

  constructor(host: string, port: number, options: Record<string, unknown>, sim: SimBoardOptions = {}) {
    const traceOn = !!process.env.MOTE_TRACE;
    this.board = new SimBoard({
      board: "esp32-devkitc",
      log: traceOn ? (l) => console.log(`[board] ${l}`) : undefined,
      trace: traceOn ? (l) => console.log(`[sim ${(Date.now() % 100000 / 1000).toFixed(3)}] ${l}`) : undefined,
      ...sim,
    });
    try {
      // power-up (empty Storage: no boot code); the board's code never manages WiFi here, so sockets
      // only need the simulated access point to be up
      this.board.boot();
      this.board.loadClient(firmwarePath());
      this.client = this.board.run(
        `var client = require("mote-mqtt").create(${JSON.stringify(host)}, ${JSON.stringify(options)}); client`,
        "test-setup",
      );
      for (const name of EVENTS) {
        this.client.on(name, (...args: any[]) => {
          const a = name === "publish" ? [copyPacket(args[0])] : args;
          this.events.push({ name, args: a, at: Date.now() });
          if (traceOn && name !== "publish" && name !== "message" && name !== "drain") {
            console.log(`[event ${(Date.now() % 100000 / 1000).toFixed(3)}] ${name} ${a.map((x) => describe(x)).join(" ")}`);
          }
        });
      }
    } catch (e) {
      this.board.close();
      throw e;
    }
  }

  /** Index to pass as `from` to see only events after this moment. */
  mark(): number {
    return this.events.length;
  }

  /** Events called `name` from index `from` on. */
  all(name: EventName, from = 0): DeviceEvent[] {
    return this.events.slice(from).filter((e) => e.name === name);
  }

  count(name: EventName, from = 0): number {
    return this.all(name, from).length;
  }

  /** Inbound messages ("publish" events) from `from` on. */
  published(from = 0): Published[] {
    return this.all("publish", from).map((e) => e.args[0] as Published);
  }

  /** `error` events as {code, message} from `from` on, optionally only those with `code`. */
  errors(code?: string, from = 0): { code: string; message: string; at: number }[] {
    return this.all("error", from)
      .map((e) => ({ code: String(e.args[0]?.code), message: String(e.args[0]?.message), at: e.at }))
      .filter((e) => code === undefined || e.code === code);
  }

  /** Waits until `count` (default 1) events `name` matching `where` exist at index >= `from`. */
  async waitEvent(name: EventName, o: { from?: number; count?: number; timeoutMs?: number; where?: (e: DeviceEvent) => boolean } = {}):
    Promise<DeviceEvent[]> {
    const from = o.from ?? 0, n = o.count ?? 1, timeout = o.timeoutMs ?? 5000;
    const pick = () => this.all(name, from).filter((e) => !o.where || o.where(e));
    const start = Date.now();
    for (;;) {
      const got = pick();
      if (got.length >= n) return got;
      if (Date.now() - start > timeout) {
        const seen = this.events.slice(-12).map((e) => `${e.name}(${e.args.map((x) => describe(x)).join(",")})`).join(" ");
        throw new Error(`timed out after ${timeout} ms waiting for ${n} "${name}" event(s) (have ${got.length}); last events: ${seen}`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** client.connect() and wait for `connected`; resolves with its sessionPresent flag. */
  async connect(timeoutMs = 5000): Promise<boolean> {
    const from = this.mark();
    this.client.connect();
    const [e] = await this.waitEvent("connected", { from, timeoutMs });
    return !!e.args[0];
  }

  /** subscribe(...) and wait for one subscribed/subscribe_failed per filter. */
  async subscribe(filters: string | string[] | Record<string, number>, qos = 0, timeoutMs = 5000): Promise<DeviceEvent[]> {
    const from = this.mark();
    const n = typeof filters === "string" ? 1 : Array.isArray(filters) ? filters.length : Object.keys(filters).length;
    // Options object built in the board's realm, like code running on the board would.
    const ok = this.client.subscribe(filters, this.board.run(`({qos: ${qos}})`));
    if (!ok) throw new Error(`subscribe(${JSON.stringify(filters)}) returned false: ${JSON.stringify(this.errors(undefined, from))}`);
    const start = Date.now();
    for (;;) {
      const got = this.events.slice(from).filter((e) => e.name === "subscribed" || e.name === "subscribe_failed");
      if (got.length >= n) return got;
      if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for SUBACK of ${JSON.stringify(filters)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  stats(): Stats {
    const s = this.client.stats();
    return {
      sent: s.sent, received: s.received, dropped: s.dropped, oversize: s.oversize, reconnects: s.reconnects,
      inflight: s.inflight, queued: s.queued, connected: !!s.connected,
    };
  }

  /** Runs code on the board (global `client` is this client). */
  run(code: string): any {
    return this.board.run(code);
  }

  /** Closes the board (sockets destroyed, timers cleared). Idempotent. */
  close(): void {
    this.board.close();
  }
}

/** A device whose client is created (not connected) for a broker at 127.0.0.1:port. */
export function device(port: number, options: Record<string, unknown> = {}, sim: SimBoardOptions = {}): Device {
  return new Device("127.0.0.1", port, { port, ...options }, sim);
}

function copyPacket(p: any): Published {
  return { topic: p.topic, message: p.message, qos: p.qos, retain: !!p.retain, dup: !!p.dup };
}

function describe(x: unknown): string {
  if (x && typeof x === "object") {
    const o = x as { code?: unknown; message?: unknown; topic?: unknown };
    if (o.code !== undefined) return `{${String(o.code)}: ${String(o.message)}}`;
    if (o.topic !== undefined) return `{topic ${String(o.topic)}}`;
  }
  return typeof x === "string" && x.length > 40 ? JSON.stringify(x.slice(0, 40)) + "..." : JSON.stringify(x) ?? String(x);
}

/**
 * Cleanup stack for one test: add(resource, close) returns the resource and makes `close` run in
 * t.after (also when the test fails), last added first; a failing close does not stop the others.
 */
export function cleanup(t: { after(fn: () => unknown): void }) {
  const stack: (() => unknown)[] = [];
  t.after(async () => {
    const errors: unknown[] = [];
    while (stack.length) {
      const fn = stack.pop() as () => unknown;
      try { await fn(); } catch (e) { errors.push(e); }
    }
    if (errors.length) throw errors[0];
  });
  return {
    add<T>(resource: T, close: (r: T) => unknown): T {
      stack.push(() => close(resource));
      return resource;
    },
  };
}

/** Asserts the board had no uncaught exception. */
export function noUncaught(dev: Device): void {
  // The simulator reports exceptions thrown by board code (handlers included) in board.errors
  // (and logs "Uncaught ..." on the board's console, as Espruino does).
  if (dev.board.errors.length) {
    const list = dev.board.errors.map((e) => describe(e) + " " + String((e as Error)?.stack ?? ""));
    throw new Error(`uncaught exception(s) on the board: ${list.join("\n")}`);
  }
}

// ------------------------------------------------------------------------------ raw packets, publishers

/** An MQTT packet: first byte, remaining length (1-4 bytes), body; all binary strings. */
export function packet(first: number, body: string): string {
  return String.fromCharCode(first) + remainingLength(body.length) + body;
}
/** A 2-byte big-endian integer (packet id, string length) as a binary string. */
export const u16 = (n: number) => String.fromCharCode(n >> 8, n & 255);

/**
 * Publishes messages 0..n-1 from an mqtt.js client (payload: the message number; topic and QoS from
 * topicOf/qosOf) with at most `window` of them unacknowledged, and waits until all are acknowledged.
 * `before(i)` is awaited before message i is sent (e.g. to restart the broker half way).
 */
export async function publishWindowed(pub: MqttClient, n: number, window: number, topicOf: (i: number) => string,
  qosOf: (i: number) => 0 | 1 | 2, before?: (i: number) => unknown): Promise<void> {
  const pending = new Set<Promise<unknown>>();
  for (let i = 0; i < n; i++) {
    if (before) await before(i);
    while (pending.size >= window) await Promise.race(pending);
    const p: Promise<unknown> = pub.publishAsync(topicOf(i), String(i), { qos: qosOf(i) });
    pending.add(p);
    void p.finally(() => pending.delete(p));
  }
  await Promise.all(pending);
}
