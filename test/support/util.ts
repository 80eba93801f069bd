// Small helpers shared by the tests (Node only; never part of the firmware bundle).
import net from "node:net";
import mqtt from "mqtt";
import type { MqttClient, IClientOptions } from "mqtt";

export const LOOPBACK = "127.0.0.1";

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `predicate` every `intervalMs` until it returns true (or a promise of true).
 * Rejects after `timeoutMs` with an error naming `what` (and the last predicate error, if any); `what` may be
 * a function, evaluated at timeout, to include the state seen last.
 */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string | (() => string),
  intervalMs = 10,
): Promise<void> {
  const started = Date.now();
  let lastError: unknown;
  for (;;) {
    try {
      if (await predicate()) return;
      lastError = undefined;
    } catch (e) {
      lastError = e;
    }
    const waited = Date.now() - started;
    if (waited >= timeoutMs) {
      const why = lastError ? ` (last error: ${(lastError as Error).message ?? String(lastError)})` : "";
      const name = typeof what === "function" ? what() : what;
      throw new Error(`timed out after ${waited} ms waiting for ${name}${why}`);
    }
    await sleep(Math.min(intervalMs, Math.max(1, timeoutMs - waited)));
  }
}

/** Resolves with `promise`'s value, or rejects after `timeoutMs` with a message naming `what`. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    promise.then(
      (v) => { clearTimeout(timer); resolve(v); },
      (e) => { clearTimeout(timer); reject(e); },
    );
  });
}

/** A TCP port that was free on `host` a moment ago (found by binding port 0 and closing). */
export function freePort(host = LOOPBACK): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error("freePort: no port assigned"))));
    });
  });
}

/** Resolves once a TCP connection to host:port succeeds; rejects after timeoutMs. */
export async function waitForPort(port: number, host = LOOPBACK, timeoutMs = 5000): Promise<void> {
  await waitFor(() => canConnect(port, host), timeoutMs, `a listener on ${host}:${port}`, 25);
}

/** One connection attempt: true when it was accepted (then closed at once). */
export function canConnect(port: number, host = LOOPBACK): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    const done = (ok: boolean) => { s.removeAllListeners(); s.on("error", () => {}); s.destroy(); resolve(ok); };
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}

/** An error carrying the CONNACK return code mqtt.js reported (1..5), when it was a refusal. */
export interface MqttConnectError extends Error {
  code?: number | string;
}

/**
 * Connects mqtt.js to `url` (e.g. `mqtt://127.0.0.1:1883`) and resolves with the client once CONNACK 0
 * arrived. Defaults: protocolVersion 4 (3.1.1), reconnectPeriod 0 (no automatic reconnect), connectTimeout
 * 5 s. Rejects with the mqtt.js error (its `code` is the CONNACK return code on refusal) and makes sure the
 * client is ended in that case. `before(client)` runs before the connection is made: attach `collect()`
 * there when messages queued in a persistent session must not be missed.
 */
export function mqttjsClient(
  url: string,
  opts: IClientOptions = {},
  before?: (client: MqttClient) => void,
): Promise<MqttClient> {
  const options: IClientOptions = { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...opts };
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, options);
    // Listeners that must see what arrives right after CONNACK (queued messages of a persistent session).
    if (before) before(client);
    const cleanup = () => {
      client.removeListener("connect", onConnect);
      client.removeListener("error", onError);
      client.removeListener("close", onClose);
    };
    const fail = (err: Error) => {
      cleanup();
      client.on("error", () => {}); // late errors after giving up must not be uncaught
      client.end(true, () => reject(err));
    };
    const onConnect = () => { cleanup(); resolve(client); };
    const onError = (err: Error) => fail(err);
    const onClose = () => {
      // reconnectPeriod 0: a close before CONNACK is final.
      if (!options.reconnectPeriod) fail(new Error(`mqtt.js: connection to ${url} closed before CONNACK`));
    };
    client.on("connect", onConnect);
    client.on("error", onError);
    client.on("close", onClose);
  });
}

/**
 * Connects expecting a refusal; resolves with the CONNACK return code (or rejects if it connected).
 */
export async function mqttjsConnackCode(url: string, opts: IClientOptions = {}): Promise<number> {
  let client: MqttClient;
  try {
    client = await mqttjsClient(url, opts);
  } catch (e) {
    const code = (e as MqttConnectError).code;
    if (typeof code === "number") return code;
    throw e;
  }
  await client.endAsync(true);
  throw new Error(`expected ${url} to refuse the connection, but CONNACK was 0`);
}

export type SubscribeRequest = string | string[] | Record<string, { qos: 0 | 1 | 2 }>;

/**
 * Subscribes an mqtt.js client and resolves with the SUBACK return codes in request order, 0x80 (128)
 * included: mqtt.js's own subscribeAsync rejects as soon as one filter is refused.
 */
export async function mqttjsSubscribe(client: MqttClient, filters: SubscribeRequest, qos: 0 | 1 | 2 = 0): Promise<number[]> {
  try {
    const grants = typeof filters === "object" && !Array.isArray(filters)
      ? await client.subscribeAsync(filters)
      : await client.subscribeAsync(filters, { qos });
    return grants.map((g) => g.qos);
  } catch (e) {
    const granted = (e as { packet?: { granted?: number[] } }).packet?.granted;
    if (Array.isArray(granted)) return granted;
    throw e;
  }
}

/** The retained message on `topic` at `url` as text, or undefined when there is none (a fresh subscriber's view). */
export async function retainedText(url: string, topic: string, encoding: BufferEncoding = "utf8"): Promise<string | undefined> {
  const c = await mqttjsClient(url);
  let got: string | undefined;
  c.on("message", (_t, m, p) => { if (p.retain) got = m.toString(encoding); });
  await c.subscribeAsync(topic);
  await sleep(200);
  await c.endAsync();
  return got;
}

/** Ends an mqtt.js client without waiting for in-flight messages (idempotent, never throws). */
export async function endClient(client: MqttClient | undefined, force = true): Promise<void> {
  if (!client) return;
  client.on("error", () => {});
  try {
    await withTimeout(client.endAsync(force), 3000, "mqtt.js client end");
  } catch {
    /* already ended or stuck: the stream is destroyed by end(true) anyway */
  }
}

export interface Received {
  topic: string;
  payload: Buffer;
  qos: number;
  retain: boolean;
  dup: boolean;
  at: number;
}

export interface Collector {
  /** Messages received so far, in arrival order. */
  messages: Received[];
  /** Payloads as latin1 strings (binary-safe, same convention as the firmware). */
  payloads(): string[];
  /** Waits until at least `n` messages arrived. */
  waitForCount(n: number, timeoutMs?: number): Promise<Received[]>;
  /** Stops collecting (removes the listener). */
  stop(): void;
}

/** True when MQTT topic filter `filter` matches topic name `topic` (3.1.1 rules, `$` topics protected). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  if (topic.startsWith("$") && (f[0] === "#" || f[0] === "+")) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * Collects the messages an mqtt.js client receives on topics matching `filter` (default: all).
 * Does not subscribe: call `client.subscribeAsync` yourself (so the grant can be checked).
 */
export function collect(client: MqttClient, filter = "#"): Collector {
  const messages: Received[] = [];
  const onMessage = (topic: string, payload: Buffer, packet: { qos?: number; retain?: boolean; dup?: boolean }) => {
    if (!topicMatches(filter, topic)) return;
    messages.push({
      topic,
      payload,
      qos: packet.qos ?? 0,
      retain: !!packet.retain,
      dup: !!packet.dup,
      at: Date.now(),
    });
  };
  client.on("message", onMessage);
  return {
    messages,
    payloads: () => messages.map((m) => m.payload.toString("latin1")),
    async waitForCount(n: number, timeoutMs = 5000) {
      await waitFor(() => messages.length >= n, timeoutMs, () => `${n} messages on "${filter}" (have ${messages.length})`);
      return messages;
    },
    stop: () => { client.removeListener("message", onMessage); },
  };
}

// ------------------------------------------------------------------------------ bytes and randomness

/**
 * MQTT remaining length (spec 2.2.3) as a binary string: 7 bits per byte, least significant first,
 * bit 7 = more follows. Written from the spec, independent of src/protocol/codec.ts.
 */
export function remainingLength(n: number): string {
  let s = "";
  do {
    let d = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) d |= 128;
    s += String.fromCharCode(d);
  } while (n > 0);
  return s;
}

/** mulberry32: small deterministic PRNG (reproducible tests), returns [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
