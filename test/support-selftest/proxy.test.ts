import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { startMosquitto, type MosquittoInstance } from "../support/mosquitto.js";
import { startProxy, seededRandom } from "../support/proxy.js";
import { mqttjsClient, endClient, collect, waitFor, sleep, freePort } from "../support/util.js";
import mqtt from "mqtt";
import type { MqttClient } from "mqtt";

// ---- raw MQTT bytes (enough to talk to a broker without a client library) ----
function connectPacket(clientId: string, keepAlive = 60): Buffer {
  const id = Buffer.from(clientId, "latin1");
  const body = Buffer.concat([
    Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, keepAlive >> 8, keepAlive & 255]),
    Buffer.from([id.length >> 8, id.length & 255]),
    id,
  ]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}
const PINGREQ = Buffer.from([0xc0, 0]);
const PINGRESP = Buffer.from([0xd0, 0]);
const CONNACK_OK = Buffer.from([0x20, 2, 0, 0]);

interface Raw {
  sock: net.Socket;
  chunks: Buffer[];
  bytes(): Buffer;
  closed: boolean;
  error?: Error;
  clear(): void;
}

function raw(port: number): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: "127.0.0.1" });
    const r: Raw = {
      sock,
      chunks: [],
      bytes: () => Buffer.concat(r.chunks),
      closed: false,
      clear: () => { r.chunks.length = 0; },
    };
    sock.setNoDelay(true);
    sock.on("data", (d) => r.chunks.push(d));
    sock.on("close", () => { r.closed = true; });
    sock.on("error", (e) => { r.error = e; });
    sock.once("connect", () => resolve(r));
    sock.once("error", reject);
  });
}

/** Connects and waits for the connection to end: "closed" or the error code (ECONNREFUSED, ECONNRESET). */
function attempt(port: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: "127.0.0.1" });
    let code: string | undefined;
    sock.on("error", (e: NodeJS.ErrnoException) => { code = e.code ?? e.message; });
    sock.on("close", () => resolve(code ?? "closed"));
    sock.setTimeout(3000, () => { code = "timeout"; sock.destroy(); });
  });
}

async function rawSession(port: number, id: string): Promise<Raw> {
  const r = await raw(port);
  r.sock.write(connectPacket(id));
  await waitFor(() => r.bytes().length >= 4, 3000, "CONNACK");
  assert.deepEqual(r.bytes(), CONNACK_OK);
  r.clear();
  return r;
}

// ---- a raw target that records how data arrives and can echo it ----
interface Sink {
  port: number;
  chunks: Buffer[];
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}
/** echoAt: once this many bytes arrived since the last echo, write them all back in one write (0 = no echo). */
async function sink(echoAt: number): Promise<Sink> {
  let pending: Buffer[] = [];
  const chunks: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.setNoDelay(true);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    s.on("data", (d) => {
      chunks.push(d);
      if (!echoAt) return;
      pending.push(d);
      const all = Buffer.concat(pending);
      if (all.length >= echoAt) { pending = []; s.write(all); }
    });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const a = srv.address() as net.AddressInfo;
  return {
    port: a.port,
    chunks,
    sockets,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); srv.close(() => r()); }),
  };
}

const payload = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => i & 255));

let m: MosquittoInstance;
const cleanups: Array<() => Promise<void>> = [];
before(async () => { m = await startMosquitto(); });
after(async () => { await m.stop(); });
async function track<T>(thing: T, stop: (t: T) => Promise<void>): Promise<T> {
  cleanups.push(() => stop(thing));
  return thing;
}
async function cleanup() {
  while (cleanups.length) await cleanups.pop()!();
}
const newProxy = async (opts: { seed?: number; targetPort?: number } = {}) =>
  track(await startProxy({ targetPort: opts.targetPort ?? m.port, seed: opts.seed }), (p) => p.close());
const newClient = async (url: string, o = {}, beforeConnect?: (c: MqttClient) => void) =>
  track(await mqttjsClient(url, o, beforeConnect), (c) => endClient(c));

test("proxy: passes an mqtt.js session through and counts connections and bytes", async () => {
  try {
    const p = await newProxy();
    const c = await newClient(p.url, { clientId: "proxy-pass" });
    const got = collect(c);
    await c.subscribeAsync("px/#", { qos: 2 });
    for (let qos = 0; qos <= 2; qos++) await c.publishAsync(`px/${qos}`, `m${qos}`, { qos: qos as 0 | 1 | 2 });
    await got.waitForCount(3);
    assert.deepEqual(got.payloads().sort(), ["m0", "m1", "m2"]);
    assert.equal(p.accepted, 1);
    assert.equal(p.active, 1);
    assert.ok(p.bytes.up > 20 && p.bytes.down > 10, JSON.stringify(p.bytes));
    await endClient(c);
    await p.waitForActive(0);
  } finally {
    await cleanup();
  }
});

test("proxy: splits writes into 1-byte pieces per direction", async () => {
  const s = await sink(150);
  try {
    const p = await newProxy({ targetPort: s.port });
    p.mode("bytes", "up");
    const r = await track(await raw(p.port), async (x) => { x.sock.destroy(); });
    r.sock.write(payload(150));
    await waitFor(() => Buffer.concat(s.chunks).length >= 150, 3000, "150 bytes at the target");
    assert.deepEqual(Buffer.concat(s.chunks), payload(150));
    assert.ok(s.chunks.every((c) => c.length === 1), `target read sizes: ${s.chunks.map((c) => c.length).join(",")}`);
    await waitFor(() => r.bytes().length >= 150, 3000, "echo");
    assert.deepEqual(r.bytes(), payload(150));
    assert.ok(r.chunks.length < 10, `down direction not split: ${r.chunks.length} reads`);

    // now the other direction only
    s.chunks.length = 0;
    r.clear();
    p.mode("pass", "up");
    p.mode("bytes", "down");
    r.sock.write(payload(150));
    await waitFor(() => r.bytes().length >= 150, 3000, "150 echoed bytes");
    assert.deepEqual(r.bytes(), payload(150));
    assert.ok(r.chunks.every((c) => c.length === 1), `client read sizes: ${r.chunks.map((c) => c.length).join(",")}`);
    assert.ok(s.chunks.length < 20, `up direction not split: ${s.chunks.length} reads`);
  } finally {
    await cleanup();
    await s.close();
  }
});

test("proxy: random split sizes are bounded and repeat with the same seed", async () => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const seqA = Array.from({ length: 20 }, () => a());
  assert.deepEqual(Array.from({ length: 20 }, () => b()), seqA);
  assert.ok(seqA.every((x) => x >= 0 && x < 1));

  const sizes: number[][] = [];
  for (let run = 0; run < 2; run++) {
    const s = await sink(0);
    try {
      const p = await newProxy({ targetPort: s.port, seed: 7 });
      p.mode("random", "up", { maxChunk: 16 });
      const r = await track(await raw(p.port), async (x) => { x.sock.destroy(); });
      r.sock.write(payload(1000));
      await waitFor(() => Buffer.concat(s.chunks).length >= 1000, 3000, "1000 bytes at the target");
      assert.deepEqual(Buffer.concat(s.chunks), payload(1000));
      assert.ok(s.chunks.length > 60, `${s.chunks.length} reads for 1000 bytes in pieces of 1..16`);
      sizes.push(s.chunks.map((c) => c.length));
    } finally {
      await cleanup();
      await s.close();
    }
  }
  assert.ok(sizes[0].every((n) => n <= 16), `sizes ${sizes[0].join(",")}`);
  assert.deepEqual(sizes[0], sizes[1], "same seed, same pieces");
});

test("proxy: an mqtt.js session survives 1-byte and random splitting both ways", async () => {
  try {
    const p = await newProxy({ seed: 3 });
    p.mode("bytes");
    const c = await newClient(p.url, { clientId: "proxy-bytes" });
    const got = collect(c);
    await c.subscribeAsync("split/#", { qos: 2 });
    const big = "x".repeat(300);
    await c.publishAsync("split/a", big, { qos: 2 });
    p.mode("random", "both", { maxChunk: 7 });
    await c.publishAsync("split/b", "second", { qos: 1 });
    await got.waitForCount(2);
    assert.deepEqual(got.payloads(), [big, "second"]);
  } finally {
    await cleanup();
  }
});

test("proxy: delay holds each direction for the given time", async () => {
  try {
    const p = await newProxy();
    const r = await track(await rawSession(p.port, "proxy-delay"), async (x) => { x.sock.destroy(); });
    p.delay(150);
    const t0 = Date.now();
    r.sock.write(PINGREQ);
    await waitFor(() => r.bytes().length >= 2, 3000, "PINGRESP");
    const rtt = Date.now() - t0;
    assert.ok(rtt >= 290, `round trip ${rtt} ms with 150 ms each way`);
    assert.deepEqual(r.bytes(), PINGRESP);
    p.delay(0);
  } finally {
    await cleanup();
  }
});

test("proxy: pause keeps sockets open and forwards nothing (held or dropped), resume continues", async () => {
  try {
    const p = await newProxy();
    const r = await track(await rawSession(p.port, "proxy-pause"), async (x) => { x.sock.destroy(); });

    // broker -> client held: the ping goes unanswered until resume
    p.pause("down");
    r.sock.write(PINGREQ);
    await sleep(300);
    assert.equal(r.bytes().length, 0, "no PINGRESP while paused");
    assert.equal(r.closed, false);
    p.resume("down");
    await waitFor(() => r.bytes().length >= 2, 2000, "held PINGRESP after resume");
    r.clear();

    // client -> broker held
    p.pause("up");
    r.sock.write(PINGREQ);
    await sleep(300);
    assert.equal(r.bytes().length, 0);
    p.resume("up");
    await waitFor(() => r.bytes().length >= 2, 2000, "PINGRESP after resume up");
    r.clear();

    // both, dropping: lost for good
    p.pause("both", { drop: true });
    r.sock.write(PINGREQ);
    await sleep(300);
    p.resume();
    await sleep(300);
    assert.equal(r.bytes().length, 0, "a dropped ping is never answered");
    r.sock.write(PINGREQ);
    await waitFor(() => r.bytes().length >= 2, 2000, "PINGRESP after resume");
    assert.equal(p.active, 1);
  } finally {
    await cleanup();
  }
});

test("proxy: a paused link makes mqtt.js's keep-alive give up (half-open detection)", async () => {
  try {
    const p = await newProxy();
    const c = await newClient(p.url, { clientId: "proxy-ka", keepalive: 1 });
    let closedAt = 0;
    c.on("close", () => { closedAt ||= Date.now(); });
    c.on("error", () => {});
    const t0 = Date.now();
    p.pause();
    await waitFor(() => closedAt > 0, 6000, "mqtt.js to close a silent connection");
    assert.ok(closedAt - t0 < 5000, `closed after ${closedAt - t0} ms`);
  } finally {
    await cleanup();
  }
});

test("proxy: cut with FIN and with reset closes the client and fires the will at the broker", async () => {
  try {
    const p = await newProxy();
    const watcher = await newClient(m.url, { clientId: "proxy-watcher" });
    const wills = collect(watcher, "will/#");
    await watcher.subscribeAsync("will/#", { qos: 1 });

    for (const how of ["fin", "reset"] as const) {
      const c = await newClient(p.url, {
        clientId: `proxy-cut-${how}`,
        will: { topic: `will/${how}`, payload: Buffer.from(`gone-${how}`), qos: 1, retain: false },
      });
      c.on("error", () => {});
      let closed = false;
      c.on("close", () => { closed = true; });
      await p.cut(how);
      await waitFor(() => closed, 3000, `mqtt.js to see cut(${how})`);
      assert.equal(p.active, 0);
      await waitFor(() => wills.payloads().includes(`gone-${how}`), 3000, `the will after cut(${how})`);
      await endClient(c);
    }
  } finally {
    await cleanup();
  }
});

test("proxy: cut (FIN) only the client side leaves the broker's side open (no will until the proxy closes)", async () => {
  try {
    const p = await newProxy();
    const watcher = await newClient(m.url, { clientId: "proxy-watcher2" });
    const wills = collect(watcher, "will2/#");
    await watcher.subscribeAsync("will2/#", { qos: 1 });
    const c = await newClient(p.url, {
      clientId: "proxy-cut-client",
      keepalive: 60,
      will: { topic: "will2/x", payload: Buffer.from("late"), qos: 1, retain: false },
    });
    c.on("error", () => {});
    let closed = false;
    c.on("close", () => { closed = true; });
    await p.cut("fin", "client");
    await waitFor(() => closed, 3000, "mqtt.js to see its socket reset");
    await sleep(300);
    assert.equal(wills.messages.length, 0, "broker still believes the client is there");
    assert.equal(p.active, 1);
    await p.close();
    await wills.waitForCount(1, 3000);
    await endClient(c);
  } finally {
    await cleanup();
  }
});

test("proxy: refuse (reset / fin / unlisten) then accept; attempts are counted over time", async () => {
  try {
    const p = await newProxy();
    const port = p.port;

    await p.refuse(undefined, "reset");
    assert.match(await attempt(p.port), /closed|ECONNRESET/);
    await p.refuse(undefined, "fin");
    assert.match(await attempt(p.port), /closed|ECONNRESET/);
    assert.equal(p.accepted, 2);
    assert.equal(p.connections.length, 0, "nothing forwarded");

    await p.refuse(undefined, "unlisten");
    assert.equal(await attempt(p.port), "ECONNREFUSED");
    assert.equal(p.accepted, 2);

    await p.refuse(200, "reset");
    assert.equal(p.port, port, "same port after re-listen");
    // mqtt.js retrying every 50 ms: attempts counted while refused, then it gets through.
    const t0 = Date.now();
    const c = mqttjsClientRetrying(p.url);
    track(c, (x) => endClient(x));
    await waitFor(() => c.connected, 3000, "mqtt.js to get through after the refusal period");
    const tries = p.attemptsSince(t0);
    assert.ok(tries >= 2 && tries <= 8, `${tries} attempts in ~200 ms with a 50 ms retry period`);
  } finally {
    await cleanup();
  }
});

function mqttjsClientRetrying(url: string): MqttClient {
  const c = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 50, connectTimeout: 1000, clientId: "proxy-retry" });
  c.on("error", () => {});
  return c;
}

test("proxy: a dead target resets the client's connection (still counted)", async () => {
  const deadPort = await freePort();
  try {
    const p = await newProxy({ targetPort: deadPort });
    assert.match(await attempt(p.port), /closed|ECONNRESET/, "reset when the broker is unreachable");
    assert.equal(p.accepted, 1);
    await p.waitForActive(0);
  } finally {
    await cleanup();
  }
});

test("proxy: inject sends raw bytes to the client as if from the broker, or to the broker", async () => {
  try {
    const p = await newProxy();
    let got: ReturnType<typeof collect> | undefined;
    const c = await newClient(p.url, { clientId: "proxy-inject" }, (x) => { got = collect(x); });
    // PUBLISH QoS 0, topic "inj", payload "hi": never sent by anyone, but mqtt.js sees it.
    const n = p.inject(Buffer.from([0x30, 7, 0, 3, 0x69, 0x6e, 0x6a, 0x68, 0x69]));
    assert.equal(n, 1);
    await got!.waitForCount(1);
    assert.equal(got!.messages[0].topic, "inj");
    assert.equal(got!.payloads()[0], "hi");
    await endClient(c);
    await p.waitForActive(0);

    // raw: exactly the injected bytes arrive (a string is taken as binary, one char per byte)
    const r = await track(await rawSession(p.port, "proxy-inject-raw"), async (x) => { x.sock.destroy(); });
    p.inject("\x00\xff\x80");
    await waitFor(() => r.bytes().length >= 3, 2000, "injected bytes");
    assert.deepEqual(r.bytes(), Buffer.from([0, 255, 128]));
    r.clear();
    // toward the broker: a PINGREQ the client never wrote is answered
    p.inject(PINGREQ, "broker");
    await waitFor(() => r.bytes().length >= 2, 2000, "PINGRESP to an injected PINGREQ");
    assert.deepEqual(r.bytes(), PINGRESP);
    // a reserved packet type toward the broker: Mosquitto drops the connection, the proxy passes that on
    p.inject("\x00\x00", "broker");
    await waitFor(() => r.closed, 3000, "the broker to close after a malformed packet");
    await p.waitForActive(0);
  } finally {
    await cleanup();
  }
});

test("proxy: close() resets every connection and stops listening", async () => {
  const p = await startProxy({ targetPort: m.port });
  const c = await mqttjsClient(p.url, { clientId: "proxy-close" });
  c.on("error", () => {});
  let closed = false;
  c.on("close", () => { closed = true; });
  await p.close();
  await waitFor(() => closed, 3000, "the client to be disconnected");
  assert.equal(p.active, 0);
  assert.equal(await attempt(p.port), "ECONNREFUSED");
  await p.close(); // idempotent
  await endClient(c);
});
