// Fault: bytes the broker never sent, injected by the proxy into the device's connection (toward the
// device, as if from Mosquitto).
//  - an oversize QoS 1 PUBLISH (5000 bytes, max_packet 1024): dropped and counted, PUBACK still sent
//    (seen in the device's upstream bytes at the proxy), the connection stays up;
//  - malformed or forbidden packets: the connection is closed with error code "protocol"
//    [MQTT-4.8.0-1], the device reconnects by itself, nothing is uncaught, and it works afterwards.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startMosquitto, type MosquittoInstance } from "../support/mosquitto.js";
import { startProxy } from "../support/proxy.js";
import { sleep, waitFor } from "../support/util.js";
import { cleanup, device, noUncaught, packet, u16, type Device } from "../session/harness.js";

let mosq: MosquittoInstance;
before(async () => { mosq = await startMosquitto(); });
after(async () => { await mosq?.stop(); });

/** Publishes on `topic` from the device at QoS 1 and waits for it to come back (the device subscribed to it). */
async function roundTrip(dev: Device, topic: string, text: string): Promise<void> {
  const from = dev.mark();
  assert.equal(dev.client.publish(topic, text, { qos: 1 }), true, "publish accepted");
  await dev.waitEvent("publish", { from, where: (e) => e.args[0].topic === topic && e.args[0].message === text });
}

test("oversize QoS 1 PUBLISH injected (5000 bytes, max_packet 1024): dropped, counted, PUBACK sent, connection stays up", { timeout: 15000 }, async (t) => {
  const env = cleanup(t);
  const proxy = env.add(await startProxy({ targetPort: mosq.port }), (p) => p.close());
  const dev = env.add(device(proxy.port, { client_id: "fx-big", keep_alive: 30, max_packet: 1024 }), (d) => d.close());
  await dev.connect();
  await dev.subscribe("fx/big/#", 1);
  await roundTrip(dev, "fx/big/rt", "before");

  // What the device sends from now on, as the proxy receives it.
  const conn = proxy.connections[proxy.connections.length - 1];
  let upstream = "";
  conn.client.on("data", (d: Buffer) => { upstream += d.toString("latin1"); });
  const from = dev.mark();
  const upBefore = proxy.bytes.up;
  const big = packet(0x32, u16(10) + "fx/big/hog" + u16(0x1234) + "x".repeat(5000 - 2 - 10 - 2));
  assert.ok(big.length > 5000);
  assert.equal(proxy.inject(big, "client"), 1);

  const [e] = await dev.waitEvent("error", { from });
  assert.equal(e.args[0].code, "oversize");
  await waitFor(() => upstream.length >= 4, 2000, "the device's answer");
  await sleep(200);
  t.diagnostic(`device answered ${JSON.stringify(upstream)} (${proxy.bytes.up - upBefore} bytes upstream)`);
  assert.equal(upstream, "\x40\x02\x12\x34", "exactly one PUBACK for packet id 0x1234");
  assert.equal(dev.stats().oversize, 1, "stats().oversize counts it");
  assert.equal(dev.count("publish", from), 0, "not delivered");
  assert.equal(dev.count("disconnected"), 0, "connection stays up");

  // Same connection, still working.
  await roundTrip(dev, "fx/big/rt", "after");
  assert.equal(proxy.accepted, 1, "never reconnected");
  assert.equal(dev.count("disconnected"), 0);
  assert.deepEqual(dev.errors().map((x) => x.code), ["oversize"]);
  noUncaught(dev);
});

const MALFORMED: [string, string, RegExp][] = [
  ["remaining length of 5 bytes", "\x30\xff\xff\xff\xff\x01", /remaining length/],
  ["CONNACK after CONNACK", packet(0x20, "\x00\x00"), /second CONNACK/],
  ["SUBACK with return code 3", packet(0x90, u16(7) + "\x03"), /SUBACK return code 3/],
  ["PUBLISH with a wildcard topic", packet(0x30, u16(3) + "a/#" + "m"), /wildcard/],
  ["PUBREL with flags 0000", packet(0x60, u16(1)), /reserved flags/],
  ["packet type 0", "\x00\x00", /packet type 0/],
];

MALFORMED.forEach(([what, bytes, why], n) => {
  test(`[MQTT-4.8.0-1] malformed from the broker: ${what} -> closed with code "protocol", reconnect, works afterwards`, { timeout: 15000 }, async (t) => {
    const env = cleanup(t);
    const proxy = env.add(await startProxy({ targetPort: mosq.port }), (p) => p.close());
    const topic = `fx/bad/${n}`;
    const dev = env.add(device(proxy.port, { client_id: `fx-bad-${n}`, keep_alive: 30 }), (d) => d.close());
    await dev.connect();
    await dev.subscribe(topic, 1);
    await roundTrip(dev, topic, "before");

    const from = dev.mark();
    assert.equal(proxy.inject(bytes, "client"), 1);
    const [d] = await dev.waitEvent("disconnected", { from });
    const errs = dev.errors(undefined, from);
    assert.deepEqual(errs.map((e) => e.code), ["protocol"], "one error, code protocol");
    assert.match(errs[0].message, why);
    assert.ok(errs[0].at <= d.at, "error reported before disconnected");
    assert.match(String(d.args[0]), why, "disconnected names the problem");

    // Back by itself after the first backoff (0.5..1 s), subscribed again (clean session), and working.
    const [c] = await dev.waitEvent("connected", { from, timeoutMs: 3000 });
    t.diagnostic(`${what}: ${JSON.stringify(errs[0].message)}; reconnected ${c.at - d.at} ms later`);
    assert.ok(c.at - d.at >= 450, "after the backoff");
    await dev.waitEvent("subscribed", { from });
    await roundTrip(dev, topic, "after");
    assert.equal(dev.stats().reconnects, 1);
    assert.equal(proxy.accepted, 2);
    await waitFor(() => proxy.active === 1, 2000, "the old connection closed");
    assert.equal(dev.board.sockets().length, 1);
    assert.deepEqual(dev.errors().map((e) => e.code).filter((c) => c !== "socket"), ["protocol"]);
    assert.deepEqual(dev.board.errors, [], "nothing uncaught");
    noUncaught(dev);
  });
});
