// The "stream" part (firmware/mote-mqtt-stream.js) on the built client in the simulator, against real
// Mosquitto: a message written one piece per socket drain arrives whole, the client's other packets
// wait for its last byte, and a stream that cannot be completed as announced closes the connection so
// that the broker keeps nothing of it (the retained value before it stays).
import { test } from "node:test";
import assert from "node:assert/strict";
import { startMosquitto } from "../support/mosquitto.js";
import { mqttjsClient, endClient, collect, sleep, waitFor } from "../support/util.js";
import { cleanup, device } from "./harness.js";

/** The retained message on `topic` as a new subscriber gets it. */
async function retained(url: string, topic: string): Promise<string | undefined> {
  const c = await mqttjsClient(url);
  let got: string | undefined;
  c.on("message", (t, m, p) => { if (p.retain && t == topic) got = m.toString("latin1"); });
  await c.subscribeAsync(topic);
  await sleep(300);
  await endClient(c);
  return got;
}

// In the board realm: next(ctx, k) gives ctx.n pieces of ctx.p, then "" (or ctx.bad at piece ctx.at).
const SETUP = `
var S = require("mote-mqtt-stream"), asked = [];
function next(x, k) { asked.push(k); return k === x.at ? x.bad : k < x.n ? x.p : ""; }
var PIECE = ""; for (var i = 0; i < 100; i++) PIECE += String.fromCharCode(48 + i % 40);
`;

test("a 4,000-byte retained message streamed a piece per drain arrives whole; the socket never holds more than a piece; publishes made meanwhile follow it", { timeout: 20000 }, async (t) => {
  const env = cleanup(t);
  const mosq = env.add(await startMosquitto(), (m) => m.stop());
  const other = env.add(await mqttjsClient(mosq.url), (c) => endClient(c));
  const got = collect(other, "s/#");
  await other.subscribeAsync("s/#", { qos: 1 });
  const dev = env.add(device(mosq.port, { client_id: "dev-stream" }), (d) => d.close());
  await dev.connect();
  dev.run(SETUP);
  await sleep(100);
  dev.board.traffic.maxUnsent = 0;
  assert.equal(dev.run(`S.stream(client, "s/big", 4000, next, {n: 40, p: PIECE}, true)`), true);
  // While it goes: a second stream is refused, a publish waits in the queue.
  assert.equal(dev.run(`S.stream(client, "s/other", 10, next, {n: 1, p: "0123456789"})`), false);
  assert.equal(dev.client.publish("s/after", "meanwhile", { qos: 1 }), true);
  assert.equal(dev.run("client.stats().queued"), 1);
  await got.waitForCount(2);
  assert.deepEqual(got.messages.map((m) => [m.topic, m.payload.length]), [["s/big", 4000], ["s/after", 9]], "the message whole, then the publish");
  assert.equal(got.messages[0].payload.toString("latin1"), dev.run("PIECE").repeat(40));
  assert.deepEqual(dev.board.json("asked"), Array.from({ length: 41 }, (_, k) => k), "each piece asked once, then the end");
  // The header and the first piece share a tick; after that one piece per drain.
  assert.ok(dev.board.traffic.maxUnsent <= 100 + 20, `at most one piece unsent at a time (${dev.board.traffic.maxUnsent} bytes)`);
  assert.equal(await retained(mosq.url, "s/big"), dev.run("PIECE").repeat(40));
  // Everything as before: the next stream works, the client publishes directly again.
  assert.equal(dev.run(`asked = []; S.stream(client, "s/two", 300, next, {n: 3, p: PIECE})`), true);
  await got.waitForCount(3);
  assert.equal(got.messages[2].payload.length, 300);
  assert.equal(dev.run("client.stats().inflight + client.stats().queued"), 0);
  assert.equal(dev.events.filter((e) => e.name == "error").length, 0);
});

for (const c of [
  { what: "a piece given up (null)", bad: "null", code: "given up" },
  { what: "a piece longer than announced", bad: "PIECE + 'x'", code: "longer than announced" },
  { what: "the end before the announced length", bad: '""', code: "bytes missing" },
]) {
  test(`${c.what}: the connection is closed mid-message, the broker keeps the retained value it had, the client reconnects`, { timeout: 20000 }, async (t) => {
    const env = cleanup(t);
    const mosq = env.add(await startMosquitto(), (m) => m.stop());
    const other = env.add(await mqttjsClient(mosq.url), (cl) => endClient(cl));
    await other.publishAsync("s/big", "old", { qos: 1, retain: true });
    const dev = env.add(device(mosq.port, { client_id: "dev-cut", keep_alive: 10 }), (d) => d.close());
    await dev.connect();
    dev.run(SETUP);
    const from = dev.mark();
    assert.equal(dev.run(`S.stream(client, "s/big", 1000, next, {n: 10, p: PIECE, at: 5, bad: ${c.bad}}, true)`), true);
    const [e] = await dev.waitEvent("error", { from });
    assert.equal(e.args[0].code, "stream");
    assert.match(e.args[0].message, new RegExp(`^message on s/big cut short \\(.*${c.code}.*\\): connection closed`));
    await dev.waitEvent("disconnected", { from });
    await dev.waitEvent("connected", { from, timeoutMs: 8000 });
    assert.equal(await retained(mosq.url, "s/big"), "old", "nothing of the cut message kept");
    // The client writes as usual afterwards.
    const got = collect(other, "s/after");
    await other.subscribeAsync("s/after", { qos: 1 });
    dev.client.publish("s/after", "fine", { qos: 1 });
    await waitFor(() => got.messages.length == 1, 5000, "publish after the cut");
  });
}
