// Fault: two devices with the same client id (reconnect on) against Mosquitto. Each connection makes the
// broker close the other one [MQTT-3.1.4-2]; each kicked device comes back after its backoff, which keeps
// growing while connections last less than the 10 s that reset it. Each device goes through its own proxy, so its attempts are
// counted separately.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startMosquitto } from "../support/mosquitto.js";
import { startProxy } from "../support/proxy.js";
import { sleep } from "../support/util.js";
import { cleanup, device, noUncaught } from "../session/harness.js";
import { backoff, gaps } from "./common.js";

const WINDOW = 30000;

test("two devices with one client id: the broker kicks one each time, no tight reconnect loop (<= 12 attempts in 30 s)", { timeout: WINDOW + 20000 }, async (t) => {
  const env = cleanup(t);
  const mosq = env.add(await startMosquitto(), (m) => m.stop());
  const pa = env.add(await startProxy({ targetPort: mosq.port }), (p) => p.close());
  const pb = env.add(await startProxy({ targetPort: mosq.port }), (p) => p.close());
  const opts = { client_id: "fx-twin", keep_alive: 10, reconnect: true };
  const a = env.add(device(pa.port, opts), (d) => d.close());
  const b = env.add(device(pb.port, opts), (d) => d.close());

  const t0 = Date.now();
  a.client.connect();
  b.client.connect();
  await sleep(WINDOW);
  const inWindow = (p: typeof pa) => p.attempts.filter((x) => x >= t0 && x < t0 + WINDOW);
  const at = { a: inWindow(pa), b: inWindow(pb) };
  a.client.disconnect();
  b.client.disconnect();

  const kicked = (mosq.logs().match(/Client fx-twin already connected, closing old connection/g) || []).length;
  const total = at.a.length + at.b.length;
  t.diagnostic(`attempts in ${WINDOW / 1000} s: A ${at.a.length} (gaps ${JSON.stringify(gaps(at.a))} ms), ` +
    `B ${at.b.length} (gaps ${JSON.stringify(gaps(at.b))} ms); broker take-overs ${kicked}; ` +
    `connected A ${a.count("connected")}x, B ${b.count("connected")}x`);
  assert.ok(total <= 12, `both devices together: ${total} attempts in 30 s (at most 12)`);
  assert.ok(kicked >= 2, `the broker kicked one device each time (${kicked} take-overs)`);
  for (const [name, dev, list] of [["A", a, at.a], ["B", b, at.b]] as const) {
    assert.ok(dev.count("connected") >= 1 && dev.count("disconnected") >= 1, `device ${name} got in and was kicked out`);
    const g = gaps(list);
    assert.ok(g.every((x) => x >= 400), `device ${name}: no two attempts within 400 ms (${JSON.stringify(g)})`);
    // The backoff grows with every kick: attempt k+1 waits at least backoff(k).min after attempt k.
    for (let k = 0; k < g.length; k++) assert.ok(g[k] >= backoff(k).min - 50, `device ${name}: gap ${k + 1} is ${g[k]} ms`);
    assert.deepEqual(dev.errors().map((e) => e.code).filter((c) => c !== "socket"), [], `device ${name}: no error but socket ones`);
    noUncaught(dev);
  }
});
