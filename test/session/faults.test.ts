// Integration: refused connections (Mosquitto password file: CONNACK 4/5, backoff counted at the fault
// proxy), invalid options, and a malformed packet injected from the broker's side.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startMosquitto } from "../support/mosquitto.js";
import { startProxy } from "../support/proxy.js";
import { sleep, mqttjsClient, endClient } from "../support/util.js";
import { cleanup, device, noUncaught } from "./harness.js";

test("[MQTT-3.2.2-5] CONNACK refusal: wrong password -> bad_credentials/not_authorized, reconnects back off; keep_alive 0 refused by create()", { timeout: 15000 }, async (t) => {
  const env = cleanup(t);
  const mosq = env.add(await startMosquitto({ passwordFile: { user: "right" } }), (m) => m.stop());
  const proxy = env.add(await startProxy({ targetPort: mosq.port }), (p) => p.close());

  // the right password is accepted (so the refusal below is about the password)
  const good = env.add(device(mosq.port, { client_id: "dev-good", keep_alive: 10, username: "user", password: "right" }), (d) => d.close());
  await good.connect();
  good.client.disconnect();

  const dev = env.add(device(proxy.port, { client_id: "dev-auth", keep_alive: 10, username: "user", password: "wrong" }), (d) => d.close());
  const t0 = Date.now();
  dev.client.connect();
  await dev.waitEvent("error");
  await sleep(5000 - (Date.now() - t0));
  dev.client.disconnect(); // stops the retries
  const attempts = proxy.attempts.filter((a) => a >= t0 && a < t0 + 5000);
  const gaps = attempts.slice(1).map((a, i) => a - attempts[i]);
  t.diagnostic(`${attempts.length} attempts in 5 s, gaps ${gaps.join(", ")} ms`);
  assert.ok(attempts.length >= 2, "it does retry");
  assert.ok(attempts.length <= 4, `backoff: at most 4 attempts in 5 s (saw ${attempts.length})`);
  for (let i = 1; i < gaps.length; i++) assert.ok(gaps[i] >= gaps[i - 1] - 50, `gaps grow: ${gaps.join(", ")}`);
  const errs = dev.errors();
  assert.ok(errs.length >= attempts.length - 1, "each refusal reported");
  for (const e of errs) {
    assert.ok(e.code === "bad_credentials" || e.code === "not_authorized", `refusal code ${e.code}`);
    assert.match(e.message, /CONNACK [45]/);
  }
  assert.equal(dev.count("connected"), 0);
  assert.equal(dev.count("disconnected"), 0, "never connected, so never disconnected");

  // keep_alive 0 would switch keep-alive off: create() throws an Error with code "option"
  assert.throws(() => device(mosq.port, { client_id: "dev-ka0", keep_alive: 0 }), (e: any) => {
    assert.equal(e.code, "option");
    assert.match(String(e.message), /keep_alive/);
    return true;
  });
  noUncaught(dev);
  noUncaught(good);
});

test("[MQTT-2.2.2-2][MQTT-4.8.0-1] malformed packet from the broker (PUBREL flags 0000): protocol error, disconnect, reconnect, nothing uncaught", { timeout: 15000 }, async (t) => {
  const env = cleanup(t);
  const mosq = env.add(await startMosquitto(), (m) => m.stop());
  const proxy = env.add(await startProxy({ targetPort: mosq.port }), (p) => p.close());
  const dev = env.add(device(proxy.port, { client_id: "dev-bad", keep_alive: 10 }), (d) => d.close());
  await dev.connect();
  await dev.subscribe("before/#", 1);

  const from = dev.mark();
  assert.equal(proxy.inject("\x60\x02\x00\x01", "client"), 1);
  const [d] = await dev.waitEvent("disconnected", { from });
  const errs = dev.errors("protocol", from);
  assert.equal(errs.length, 1, "one error with code protocol");
  assert.match(errs[0].message, /reserved flags/);
  assert.ok(errs[0].at <= d.at, "error reported before disconnected");
  await dev.waitEvent("connected", { from, timeoutMs: 5000 });
  assert.equal(dev.stats().reconnects, 1);
  assert.equal(proxy.accepted, 2);

  // clean session: the broker forgot the subscription, the client subscribes again by itself
  const [re] = await dev.waitEvent("subscribed", { from });
  assert.deepEqual(re.args, ["before/#", 1]);
  const other = env.add(await mqttjsClient(mosq.url, { clientId: "x-bad" }), (c) => endClient(c));
  await other.publishAsync("before/x", "still subscribed", { qos: 1 });
  const [m] = await dev.waitEvent("publish", { from });
  assert.equal(m.args[0].message, "still subscribed");
  assert.deepEqual(dev.errors(undefined, from).map((e) => e.code), ["protocol"]);
  noUncaught(dev);

  // the check above can see an uncaught exception: the simulator records it in board.errors
  dev.run("setTimeout(function () { throw new Error('probe'); }, 0)");
  await dev.board.waitFor(() => dev.board.errors.length === 1, 1000, "the probe exception");
  assert.throws(() => noUncaught(dev), /probe/);
});
