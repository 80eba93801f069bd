// Fault: a half-open link. The proxy stops forwarding both ways (what arrives is held, the sockets stay
// open), so neither side sees a FIN or an RST: each must find out through keep-alive. keep_alive 2 s:
// the device gives up within 1.5 x keep_alive (PINGREQ when idle, dead when the PINGRESP is later than
// keep_alive / 2, checked every keep_alive / 10) and tries again after its first backoff; Mosquitto
// gives up after 1.5 x keep_alive too (its check runs every 5 s) and publishes the will; once the link
// is back, the attempt waiting for its CONNACK gets through.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startMosquitto } from "../support/mosquitto.js";
import { startProxy } from "../support/proxy.js";
import { mqttjsClient, endClient, collect, waitFor } from "../support/util.js";
import { cleanup, device, noUncaught } from "../session/harness.js";
import { backoff, CONNACK_WAIT } from "./common.js";

const KA = 2000;

test("[MQTT-3.1.2-23] half-open link: device detects within 1.5 x keep_alive, Mosquitto fires the will, reconnect after the link is back", { timeout: 45000 }, async (t) => {
  const env = cleanup(t);
  const mosq = env.add(await startMosquitto(), (m) => m.stop());
  const proxy = env.add(await startProxy({ targetPort: mosq.port }), (p) => p.close());
  const watcher = env.add(await mqttjsClient(mosq.url, { clientId: "fx-ho-watch" }), (c) => endClient(c));
  const wills = collect(watcher, "fx/will/#");
  await watcher.subscribeAsync("fx/will/#", { qos: 1 });
  const echo = collect(watcher, "fx/ho/#");
  await watcher.subscribeAsync("fx/ho/#", { qos: 1 });

  const dev = env.add(device(proxy.port, {
    client_id: "fx-ho", keep_alive: KA / 1000, will: { topic: "fx/will/ho", message: "fx-ho lost", qos: 1 },
  }), (d) => d.close());
  await dev.connect();
  await dev.subscribe("fx/in/#", 1);
  // A working link first: one message through.
  assert.equal(dev.client.publish("fx/ho/before", "up", { qos: 1 }), true);
  await echo.waitForCount(1);

  // The link goes silent both ways: nothing is forwarded (it is held, as a peer's TCP stack would keep
  // retransmitting it), no FIN, no RST.
  const from = dev.mark();
  const pausedAt = Date.now();
  proxy.pause("both");

  // Device side: the keep-alive finds the dead link (last write at most just before the pause: PINGREQ
  // within keep_alive, PINGRESP due keep_alive / 2 later, each checked every keep_alive / 10).
  const [d] = await dev.waitEvent("disconnected", { from, timeoutMs: 2 * KA });
  const detected = d.at - pausedAt;
  assert.equal(d.args[0], "keep-alive timeout");
  assert.ok(detected <= 1.5 * KA + KA / 10 + 150, `device detected the dead link after ${detected} ms (limit 1.5 x ${KA} + one check)`);
  const timeouts = dev.errors("timeout", from);
  assert.equal(timeouts.length, 1, "one timeout error");
  assert.match(timeouts[0].message, /PINGRESP/);
  // ... and tries again after the first backoff (the link is still down: that CONNECT waits at the proxy).
  await proxy.waitForAccepted(2, backoff(0).max + 1000);
  const retry = proxy.attempts[1] - pausedAt;
  assert.ok(retry - detected >= backoff(0).min - 50 && retry <= 1.5 * KA + KA / 10 + backoff(0).max + 200,
    `reconnect attempt ${retry} ms after the link went silent (limit 1.5 x keep_alive + backoff)`);

  // Broker side: Mosquitto's own keep-alive check (nothing reached it, not even a FIN) publishes the will.
  // Mosquitto 2.0 runs that check every 5 s, in whole seconds ("now - last_msg_in > keep_alive * 3 / 2"),
  // so the will comes 1.5 x keep_alive to 1.5 x keep_alive + 8 s after the device's last packet.
  await wills.waitForCount(1, 1.5 * KA + 10000);
  const willAt = wills.messages[0].at - pausedAt;
  assert.equal(wills.messages[0].payload.toString(), "fx-ho lost");
  assert.ok(willAt >= 1.5 * KA - 200 && willAt <= 1.5 * KA + 9000, `will published ${willAt} ms after the link went silent`);
  assert.match(mosq.logs(), /Client fx-ho has exceeded timeout, disconnecting/, "Mosquitto's keep-alive found it");

  // Link back: the attempt still waiting for its CONNACK (the client waits max(keep_alive / 2, 10 s) from
  // opening the socket) gets through, no new attempt needed.
  const resumedAt = Date.now();
  assert.ok(resumedAt - proxy.attempts[1] < CONNACK_WAIT - 500, "the retry is still waiting for its CONNACK");
  proxy.resume("both");
  const [c] = await dev.waitEvent("connected", { from, timeoutMs: 3000 });
  const back = c.at - resumedAt;
  t.diagnostic(`detected after ${detected} ms; retry after ${retry} ms; will after ${willAt} ms; reconnected ${back} ms after resume; ` +
    `attempts ${JSON.stringify(proxy.attempts.map((x) => x - pausedAt))} ms from the pause`);
  assert.ok(back <= 1000, `reconnected ${back} ms after the link came back`);
  assert.equal(proxy.attemptsSince(pausedAt), 1, "one attempt while the link was down");
  assert.equal(dev.errors("timeout", from).length, 1, "the retry did not time out");
  // Every socket of the dead link is gone once the link is back.
  await dev.board.waitFor(() => dev.board.sockets().length === 1, 3000, "one open socket");

  // And it works: a message each way (clean session: the client subscribed again by itself).
  await dev.waitEvent("subscribed", { from });
  const from2 = dev.mark();
  assert.equal(dev.client.publish("fx/ho/after", "again", { qos: 1 }), true);
  await echo.waitForCount(2);
  await watcher.publishAsync("fx/in/x", "to device", { qos: 1 });
  const [m] = await dev.waitEvent("publish", { from: from2 });
  assert.equal(m.args[0].message, "to device");
  assert.equal(wills.messages.length, 1, "one will");
  assert.equal(dev.count("disconnected"), 1);
  assert.deepEqual(dev.errors().map((e) => e.code).filter((x) => x !== "socket" && x !== "timeout"), []);
  await waitFor(() => proxy.active === 1, 3000, "one proxy connection");
  noUncaught(dev);
});
