// Fault: a flapping link. The proxy cuts the device's connection every 2-3 s (FIN and reset in turn) for
// FAULT_FLAP_SECONDS (default 60) while the device offers a QoS 1 message every 200 ms. Sampled every
// 50 ms: never more than one open socket on the board and one connection at the proxy (one attempt in
// flight at most). Counted: connection attempts against the backoff schedule (1 s doubling to 60 s,
// jittered to d/2..d, reset only by a connection that lasted 10 s, which cuts every 2-3 s never allow),
// timers and memory after settling, and every QoS 1 message publish() accepted delivered at least once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startMosquitto } from "../support/mosquitto.js";
import { startProxy } from "../support/proxy.js";
import { mqttjsClient, endClient, collect, sleep, waitFor } from "../support/util.js";
import { cleanup, device, noUncaught } from "../session/harness.js";
import { backoff, gaps, maxAttemptsWithin, sampler } from "./common.js";

const SECONDS = Number(process.env.FAULT_FLAP_SECONDS || 60);

test(`link flapping for ${SECONDS} s (cut every 2-3 s, fin/reset): one attempt in flight, backoff respected, no growth in timers, sockets or memory, QoS 1 delivered`, { timeout: SECONDS * 1000 + 60000 }, async (t) => {
  assert.ok(SECONDS >= 5, "FAULT_FLAP_SECONDS must be at least 5");
  const env = cleanup(t);
  const mosq = env.add(await startMosquitto(), (m) => m.stop());
  const proxy = env.add(await startProxy({ targetPort: mosq.port }), (p) => p.close());
  const sub = env.add(await mqttjsClient(mosq.url, { clientId: "fx-flap-sub" }), (c) => endClient(c));
  const rx = collect(sub, "fx/flap/#");
  await sub.subscribeAsync("fx/flap/#", { qos: 1 });

  const dev = env.add(device(proxy.port, { client_id: "fx-flap", clean_session: false, keep_alive: 10 }), (d) => d.close());
  await dev.connect();
  await sleep(200);
  const board = dev.board;
  const timers0 = board.timerCount(), mem0 = board.memory().usage;

  // Watch the board and the proxy every 50 ms, to the end of the test.
  const watch = env.add(sampler(50, () => ({ at: Date.now(), sockets: board.sockets().length, active: proxy.active })),
    (s) => s.stop());

  // The device offers a QoS 1 message every 200 ms; publish() may refuse it (queue full while offline).
  const accepted: number[] = [];
  let offered = 0;
  const publisher = setInterval(() => {
    const i = offered++;
    if (dev.client.publish("fx/flap/m", String(i), { qos: 1 })) accepted.push(i);
  }, 200);
  env.add(publisher, (h) => clearInterval(h));

  // The link flaps.
  const t0 = Date.now(), tEnd = t0 + SECONDS * 1000;
  let cuts = 0, hits = 0;
  while (Date.now() < tEnd) {
    await sleep(Math.min(2000 + Math.random() * 1000, Math.max(0, tEnd - Date.now())));
    if (Date.now() >= tEnd) break;
    if (proxy.active > 0) hits++;
    await proxy.cut(cuts++ % 2 ? "reset" : "fin");
  }
  clearInterval(publisher);
  const attempts = proxy.attempts.filter((a) => a <= tEnd);
  const windowAttempts = attempts.filter((a) => a >= t0).length;

  // Link stable again: connect now instead of waiting out a backoff of up to a minute, then let
  // everything accepted go out.
  const from = dev.mark();
  dev.client.connect();
  if (!dev.client.stats().connected) await dev.waitEvent("connected", { from, timeoutMs: 5000 });
  await board.waitFor(() => dev.stats().inflight === 0 && dev.stats().queued === 0, 10000, "the device's queue to drain");
  const delivered = () => new Set(rx.payloads().map(Number));
  await waitFor(() => { const d = delivered(); return accepted.every((i) => d.has(i)); }, 10000,
    () => `all ${accepted.length} accepted messages at the subscriber (missing ${accepted.filter((i) => !delivered().has(i)).slice(0, 10)})`);
  await sleep(500);
  watch.stop();
  const timers1 = board.timerCount(), mem1 = board.memory().usage;

  const g = gaps(attempts);
  const maxSockets = Math.max(...watch.samples.map((s) => s.sockets));
  const maxActive = Math.max(...watch.samples.map((s) => s.active));
  const stats = dev.stats();
  t.diagnostic(`${SECONDS} s: ${cuts} cuts (${hits} hit a connection), ${windowAttempts} attempts in the window ` +
    `(schedule allows ${maxAttemptsWithin(tEnd - attempts[0])} since the first), gaps ${JSON.stringify(g)} ms; ` +
    `offered ${offered}, accepted ${accepted.length}, delivered ${delivered().size} distinct / ${rx.messages.length} total; ` +
    `${watch.samples.length} samples: max sockets ${maxSockets}, max proxy connections ${maxActive}; ` +
    `timers ${timers0} -> ${timers1}; memory ${mem0} -> ${mem1} vars; reconnects ${stats.reconnects}`);

  // One connection at a time, never a socket left behind.
  assert.ok(watch.samples.length >= (SECONDS * 1000) / 50 * 0.8, "sampled every 50 ms");
  assert.ok(maxSockets <= 1, `board.sockets() open: at most 1 at every sample (saw ${maxSockets})`);
  assert.ok(maxActive <= 1, `proxy connections from the device: at most 1 at every sample (saw ${maxActive})`);
  // Backoff: each attempt after a loss waits at least half the doubled delay; no burst.
  assert.ok(hits >= 2, "the cuts hit live connections");
  assert.ok(g.every((x) => x >= 400), `no two attempts within 400 ms: ${JSON.stringify(g)}`);
  for (let k = 0; k < g.length; k++) {
    assert.ok(g[k] >= backoff(k).min - 50, `attempt ${k + 1} came ${g[k]} ms after the previous one (backoff ${backoff(k).min} ms at least)`);
  }
  assert.ok(attempts.length <= maxAttemptsWithin(tEnd - attempts[0]), `${attempts.length} attempts fit the backoff schedule`);
  assert.ok(windowAttempts <= hits + 1, `attempts (${windowAttempts}) <= connections cut (${hits}) + 1`);
  // Nothing grows.
  assert.ok(timers1 <= timers0 + 1, `timers ${timers0} -> ${timers1}`);
  assert.ok(mem1 <= mem0 * 1.15, `memory ${mem0} -> ${mem1} vars (limit +15%)`);
  await board.waitFor(() => board.sockets().length === 1, 1000, "one socket");
  // At least once: every message publish() accepted reached the subscriber.
  assert.ok(accepted.length > 0);
  assert.equal(stats.sent, accepted.length, "stats().sent = messages accepted");
  assert.deepEqual(dev.errors().map((e) => e.code).filter((c) => c !== "queue_full" && c !== "socket"), []);
  assert.equal(dev.errors("queue_full").length, offered - accepted.length, "each refusal reported as queue_full");
  noUncaught(dev);
});
