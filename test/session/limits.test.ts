// Integration: volume and size limits: 1000 PUBLISH packets in one TCP write (a scripted fake broker),
// an inbound message over max_packet (Mosquitto), bursts of 1000 publishes against the write buffer,
// the inflight window and the queue.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { startMosquitto } from "../support/mosquitto.js";
import { mqttjsClient, endClient, collect, sleep, LOOPBACK } from "../support/util.js";
import { cleanup, device, noUncaught, packet, u16 } from "./harness.js";

/**
 * A scripted fake broker: answers CONNECT with CONNACK 0, PINGREQ with PINGRESP, and SUBSCRIBE with
 * SUBACK (granting QoS 0) followed by `afterSuback` in ONE socket.write.
 */
async function fakeBroker(afterSuback: string) {
  const sockets = new Set<net.Socket>();
  const seen: number[] = [];
  let writes = 0;
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    let buf = Buffer.alloc(0);
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        // remaining length
        let i = 1, len = 0, mul = 1, b = 0;
        do {
          if (i >= buf.length) return;
          b = buf[i++];
          len += (b & 127) * mul;
          mul *= 128;
        } while (b & 128);
        if (buf.length < i + len) return;
        const type = buf[0] >> 4, body = buf.subarray(i, i + len);
        buf = buf.subarray(i + len);
        seen.push(type);
        if (type === 1) s.write(Buffer.from("\x20\x02\x00\x00", "latin1"));
        else if (type === 12) s.write(Buffer.from("\xd0\x00", "latin1"));
        else if (type === 8) {
          s.write(Buffer.from(packet(0x90, body.subarray(0, 2).toString("latin1") + "\x00"), "latin1"));
          s.write(Buffer.from(afterSuback, "latin1"));
          writes++;
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, LOOPBACK, () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    get writes() { return writes; },
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

test("1000 QoS 0 PUBLISH packets in one TCP write: all arrive, in order, intact", { timeout: 15000 }, async (t) => {
  const env = cleanup(t);
  // payload sizes vary (1- and 2-byte remaining lengths) so packets straddle the 536-byte chunks anywhere
  const payloads = [...Array(1000).keys()].map((i) => `m${i}:` + "x".repeat((i * 37) % 200));
  const burst = payloads.map((p, i) => packet(0x30, u16(7) + `burst/${i % 10}` + p)).join("");
  const fake = env.add(await fakeBroker(burst), (f) => f.close());
  t.diagnostic(`one write of ${burst.length} bytes (${Math.ceil(burst.length / 536)} chunks of 536)`);

  const dev = env.add(device(fake.port, { client_id: "dev-1000", keep_alive: 10 }), (d) => d.close());
  await dev.connect();
  const started = Date.now();
  const acks = await dev.subscribe("burst/#", 0);
  assert.deepEqual(acks.map((e) => [e.name, ...e.args]), [["subscribed", "burst/#", 0]]);
  await dev.waitEvent("publish", { count: 1000, timeoutMs: 10000 });
  t.diagnostic(`1000 messages in ${Date.now() - started} ms`);
  await sleep(100);

  assert.equal(fake.writes, 1);
  const got = dev.published();
  assert.equal(got.length, 1000);
  assert.deepEqual(got.map((p) => p.message), payloads, "every payload, in order");
  assert.deepEqual(got.map((p) => p.topic), payloads.map((_, i) => `burst/${i % 10}`));
  assert.ok(got.every((p) => p.qos === 0 && !p.retain && !p.dup));
  assert.equal(dev.count("message"), 1000);
  assert.equal(dev.stats().received, 1000);
  assert.deepEqual(dev.errors(), []);
  assert.equal(dev.count("disconnected"), 0);
  noUncaught(dev);
});

test("[MQTT-4.5.0-2] max_packet: a 5000-byte message is dropped (counted, acked), the next one arrives intact, the connection stays", { timeout: 15000 }, async (t) => {
  const env = cleanup(t);
  const mosq = env.add(await startMosquitto(), (m) => m.stop());
  const dev = env.add(device(mosq.port, { client_id: "dev-big", keep_alive: 10, max_packet: 1024 }), (d) => d.close());
  await dev.connect();
  await dev.subscribe("big/#", 1);

  const other = env.add(await mqttjsClient(mosq.url, { clientId: "x-big" }), (c) => endClient(c));
  const big = Buffer.alloc(5000, 0x41);
  // both publish callbacks complete (broker PUBACKs): awaited here
  await other.publishAsync("big/a", big, { qos: 1 });
  await other.publishAsync("big/b", "small \u00e9", { qos: 1 });
  await dev.waitEvent("publish");
  await sleep(300);

  const s = dev.stats();
  assert.equal(s.oversize, 1, "stats().oversize");
  const over = dev.errors("oversize");
  assert.equal(over.length, 1, "one error with code oversize");
  assert.match(over[0].message, /big\/a/, "the error names the topic");
  assert.deepEqual(dev.published().map((p) => [p.topic, p.message, p.qos]),
    [["big/b", Buffer.from("small \u00e9").toString("latin1"), 1]], "only the small one delivered, intact (UTF-8 bytes)");
  assert.equal(dev.count("disconnected"), 0, "connection stays up");
  assert.deepEqual(dev.errors().map((e) => e.code), ["oversize"]);
  // the device acknowledged both QoS 1 deliveries, the dropped one too (else the broker would resend it)
  const pubacks = (mosq.logs().match(/Received PUBACK from dev-big /g) || []).length;
  assert.equal(pubacks, 2, "the broker got a PUBACK from the device for both messages");

  // and the connection still works
  await other.publishAsync("big/c", "after", { qos: 0 });
  await dev.waitEvent("publish", { count: 2 });
  assert.equal(dev.published()[1].message, "after");
  noUncaught(dev);
});

test("burst: 1000 QoS 0 in one loop (accepted + refused = 1000, refused reported), 1000 QoS 1 with inflight 8 queue 8 (16 accepted)", { timeout: 15000 }, async (t) => {
  const env = cleanup(t);
  const mosq = env.add(await startMosquitto(), (m) => m.stop());
  const other = env.add(await mqttjsClient(mosq.url, { clientId: "x-burst" }), (c) => endClient(c));
  const q0 = collect(other, "b/0"), q1 = collect(other, "b/1");
  await other.subscribeAsync("b/#", { qos: 1 });
  const dev = env.add(device(mosq.port, { client_id: "dev-burst", keep_alive: 10, inflight: 8, queue: 8 }), (d) => d.close());
  await dev.connect();

  // QoS 0: one synchronous loop on the board
  let from = dev.mark();
  const flags0: string = dev.run("var r = ''; for (var i = 0; i < 1000; i++) r += client.publish('b/0', 'q0-' + i) ? '1' : '0'; r");
  const accepted0 = [...flags0].flatMap((f, i) => (f === "1" ? [i] : []));
  const refused0 = 1000 - accepted0.length;
  t.diagnostic(`QoS 0 burst: ${accepted0.length} accepted, ${refused0} refused`);
  assert.equal(flags0.length, 1000);
  assert.ok(accepted0.length > 8 && refused0 > 0, "some accepted, the rest refused (bounded buffering)");
  assert.deepEqual(accepted0, [...Array(accepted0.length).keys()], "the accepted ones are the first ones");
  await q0.waitForCount(accepted0.length, 5000);
  await dev.waitEvent("error", { from, count: refused0 });
  await sleep(200);
  assert.deepEqual(q0.payloads(), accepted0.map((i) => "q0-" + i), "every accepted message arrived, in order, once");
  assert.equal(dev.stats().dropped, refused0, "stats().dropped counts the refused ones");
  assert.equal(dev.errors("queue_full", from).length, refused0, "each refusal reported as queue_full");
  assert.equal(dev.errors(undefined, from).length, refused0);
  assert.equal(dev.stats().sent, accepted0.length);
  assert.equal(dev.stats().queued, 0);

  // QoS 1: 8 in flight + 8 queued, the other 984 refused
  from = dev.mark();
  const flags1: string = dev.run("var r = ''; for (var i = 0; i < 1000; i++) r += client.publish('b/1', 'q1-' + i, {qos: 1}) ? '1' : '0'; r");
  const s1 = dev.stats();
  assert.equal(s1.inflight, 8);
  assert.equal(s1.queued, 8);
  assert.equal(flags1, "1".repeat(16) + "0".repeat(984), "exactly the first 16 accepted");
  await q1.waitForCount(16, 5000);
  await dev.waitEvent("error", { from, count: 984 });
  await dev.board.waitFor(() => dev.stats().inflight === 0 && dev.stats().queued === 0, 3000, "all PUBACKs");
  await sleep(200);
  assert.deepEqual(q1.payloads(), [...Array(16).keys()].map((i) => "q1-" + i));
  assert.ok(q1.messages.every((m) => m.qos === 1));
  assert.equal(dev.errors("queue_full", from).length, 984);
  assert.equal(dev.errors(undefined, from).length, 984);
  assert.equal(dev.stats().dropped, refused0 + 984);
  assert.equal(dev.count("disconnected"), 0);
  noUncaught(dev);
});
