import { test } from "node:test";
import assert from "node:assert/strict";
import { startAedes } from "../support/aedes.js";
import { mqttjsClient, mqttjsConnackCode, mqttjsSubscribe, endClient, collect, canConnect, waitFor } from "../support/util.js";

test("aedes: refuses a subscribe with 0x80 and grants the others", async () => {
  const a = await startAedes({ refuseSubscribe: (filter) => filter.startsWith("forbidden/") });
  const c = await mqttjsClient(a.url, { clientId: "selftest-aedes" });
  try {
    const granted = await mqttjsSubscribe(c, { "ok/#": { qos: 1 }, "forbidden/x": { qos: 1 }, ok2: { qos: 0 } });
    assert.deepEqual(granted, [1, 128, 0]);
    assert.deepEqual(await mqttjsSubscribe(c, "forbidden/y", 2), [128]);
    assert.deepEqual(await mqttjsSubscribe(c, ["ok/b", "forbidden/z"], 2), [2, 128]);
    const got = collect(c);
    await c.publishAsync("ok/a", "hello", { qos: 1 });
    await got.waitForCount(1);
    assert.equal(got.messages[0].topic, "ok/a");
  } finally {
    await endClient(c);
    await a.stop();
  }
  assert.equal(await canConnect(a.port), false, "listener closed after stop()");
});

test("aedes: users option answers CONNACK 4 for a bad password, 5 without a user name", async () => {
  const a = await startAedes({ users: { dev: "pw" } });
  try {
    const ok = await mqttjsClient(a.url, { username: "dev", password: "pw" });
    await endClient(ok);
    assert.equal(await mqttjsConnackCode(a.url, { username: "dev", password: "nope" }), 4);
    assert.equal(await mqttjsConnackCode(a.url, { username: "who", password: "pw" }), 4);
    assert.equal(await mqttjsConnackCode(a.url, {}), 5);
  } finally {
    await a.stop();
  }
});

test("aedes: custom authenticate returns any CONNACK code", async () => {
  const a = await startAedes({ authenticate: (id) => (id === "banned" ? 2 : 0) });
  try {
    assert.equal(await mqttjsConnackCode(a.url, { clientId: "banned" }), 2);
    const ok = await mqttjsClient(a.url, { clientId: "fine" });
    await endClient(ok);
  } finally {
    await a.stop();
  }
});

test("aedes: refusePublish closes the publisher's connection", async () => {
  const a = await startAedes({ refusePublish: (topic) => topic === "no" });
  const c = await mqttjsClient(a.url, { clientId: "selftest-refuse-pub" });
  try {
    let closed = false;
    c.on("close", () => { closed = true; });
    c.publish("no", "x", { qos: 1 });
    await waitFor(() => closed, 3000, "the broker to close the connection");
  } finally {
    await endClient(c);
    await a.stop();
  }
});

test("aedes: stop() with clients still connected ends them", async () => {
  const a = await startAedes();
  const c = await mqttjsClient(a.url);
  let closed = false;
  c.on("close", () => { closed = true; });
  await a.stop();
  await waitFor(() => closed, 3000, "the client to see the close");
  await endClient(c);
});
