import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { startMosquitto } from "../support/mosquitto.js";
import { mqttjsClient, mqttjsConnackCode, endClient, collect, canConnect, waitFor } from "../support/util.js";
import type { MqttClient } from "mqtt";
import type { Collector } from "../support/util.js";

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("mosquitto: starts on a free loopback port, stops cleanly, removes its temp dir", async () => {
  const m = await startMosquitto();
  try {
    assert.equal(m.host, "127.0.0.1");
    assert.ok(m.port > 0 && m.port !== 1883);
    assert.ok(m.running);
    const pid = m.pid;
    assert.ok(alive(pid));
    assert.ok(fs.existsSync(`${m.dir}/mosquitto.conf`));
    const c = await mqttjsClient(m.url, { clientId: "selftest-basic" });
    await endClient(c);
    await waitFor(() => /selftest-basic/.test(m.logs()), 2000, "the connection to appear in the mosquitto log");
    await m.stop();
    assert.equal(m.running, false);
    assert.equal(alive(pid), false, "mosquitto process gone after stop()");
    assert.equal(await canConnect(m.port), false, "port closed after stop()");
    assert.equal(fs.existsSync(m.dir), false, "temp dir removed");
    assert.match(m.logs(), /terminating/, "logs still readable after stop()");
    await m.stop(); // idempotent
  } finally {
    await m.stop();
  }
});

test("mosquitto: persistence keeps a retained message and a queued QoS 1 message across restart()", async () => {
  const m = await startMosquitto({ persistence: true });
  const clients: MqttClient[] = [];
  try {
    // A persistent subscriber, then offline.
    const sub = await mqttjsClient(m.url, { clientId: "selftest-persist-sub", clean: false });
    clients.push(sub);
    const granted = await sub.subscribeAsync("selftest/queued", { qos: 1 });
    assert.equal(granted[0].qos, 1);
    await endClient(sub, false);

    const pub = await mqttjsClient(m.url, { clientId: "selftest-persist-pub" });
    clients.push(pub);
    await pub.publishAsync("selftest/retained", "kept", { qos: 1, retain: true });
    await pub.publishAsync("selftest/queued", "waiting", { qos: 1 });
    await endClient(pub, false);

    const port = m.port;
    const oldPid = m.pid;
    await m.restart();
    assert.equal(m.port, port, "same port after restart");
    assert.notEqual(m.pid, oldPid, "a new process");
    assert.match(m.logs(), /Saving in-memory database/);

    // Queued message delivered to the returning persistent session.
    let queued: Collector | undefined;
    const back = await mqttjsClient(m.url, { clientId: "selftest-persist-sub", clean: false }, (c) => {
      queued = collect(c, "selftest/queued");
    });
    clients.push(back);
    assert.ok(queued);
    await queued.waitForCount(1, 5000);
    assert.deepEqual(queued.payloads(), ["waiting"]);

    // Retained message survives.
    const fresh = await mqttjsClient(m.url, { clientId: "selftest-persist-fresh" });
    clients.push(fresh);
    const retained = collect(fresh, "selftest/retained");
    await fresh.subscribeAsync("selftest/retained", { qos: 1 });
    const got = await retained.waitForCount(1, 5000);
    assert.equal(got[0].payload.toString(), "kept");
    assert.equal(got[0].retain, true);
  } finally {
    for (const c of clients) await endClient(c);
    await m.stop();
  }
});

test("mosquitto: halt() takes the broker down, start() brings it back on the same port", async () => {
  const m = await startMosquitto();
  try {
    await m.halt();
    assert.equal(m.running, false);
    assert.equal(await canConnect(m.port), false);
    await m.start();
    assert.equal(await canConnect(m.port), true);
    await m.kill();
    assert.equal(await canConnect(m.port), false);
    await m.start();
    const c = await mqttjsClient(m.url);
    await endClient(c);
  } finally {
    await m.stop();
  }
});

test("mosquitto: password file accepts the right password, refuses a bad one and anonymous", async () => {
  const m = await startMosquitto({ passwordFile: { alice: "s3cret", bob: "other" } });
  try {
    const ok = await mqttjsClient(m.url, { username: "alice", password: "s3cret" });
    await endClient(ok);
    const ok2 = await mqttjsClient(m.url, { username: "bob", password: "other" });
    await endClient(ok2);
    const bad = await mqttjsConnackCode(m.url, { username: "alice", password: "wrong" });
    assert.ok(bad === 4 || bad === 5, `CONNACK ${bad} for a bad password`);
    const anon = await mqttjsConnackCode(m.url, {});
    assert.ok(anon === 4 || anon === 5, `CONNACK ${anon} for anonymous`);
    assert.ok(!/s3cret/.test(fs.readFileSync(`${m.dir}/passwd`, "latin1")), "password file holds hashes only");
  } finally {
    await m.stop();
  }
});

test("mosquitto: options reach the config (message_size_limit drops a larger message)", async () => {
  const m = await startMosquitto({
    max_keepalive: 30,
    max_inflight_messages: 5,
    max_queued_messages: 50,
    message_size_limit: 4096,
    extra: ["# extra line marker"],
  });
  try {
    const conf = fs.readFileSync(`${m.dir}/mosquitto.conf`, "latin1");
    for (const line of ["max_keepalive 30", "max_inflight_messages 5", "max_queued_messages 50", "message_size_limit 4096", "# extra line marker"]) {
      assert.ok(conf.includes(line), `config has "${line}"`);
    }
    // (Keep-alive refusals depend on the Mosquitto version: 2.0.12+ only. message_size_limit works on all.)
    const c = await mqttjsClient(m.url, { keepalive: 30 });
    try {
      const got = collect(c, "selftest/size");
      await c.subscribeAsync("selftest/size", { qos: 1 });
      await c.publishAsync("selftest/size", Buffer.alloc(5000, 0x41), { qos: 1 });
      await c.publishAsync("selftest/size", "small", { qos: 1 });
      await got.waitForCount(1);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(got.payloads(), ["small"], "the 5000-byte message was over message_size_limit");
    } finally {
      await endClient(c);
    }
  } finally {
    await m.stop();
  }
});

test("mosquitto: a missing binary is an error with a clear message, never a skip", async () => {
  const saved = process.env.MOSQUITTO;
  process.env.MOSQUITTO = "/nonexistent/mosquitto";
  try {
    await assert.rejects(startMosquitto(), /Mosquitto not found.*apt-get install mosquitto/);
  } finally {
    if (saved === undefined) delete process.env.MOSQUITTO;
    else process.env.MOSQUITTO = saved;
  }
});
