// Spec conformance (MQTT 3.1.1 sections 2.2.2, 3.1.2.10, 3.14): the fixed-header flags of everything the
// built client sends, keep-alive timing on the wire, and DISCONNECT, seen from a fake broker.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cleanup, device, noUncaught } from "../session/harness.js";
import {
  CONNECT, DISCONNECT, PINGREQ, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBSCRIBE, TYPE_NAMES, UNSUBSCRIBE, ack, describePkt,
  fakeBroker, hex, idOf, publish,
} from "./broker.js";
import type { Pkt } from "./broker.js";
import { sleep } from "../support/util.js";

test("[MQTT-2.2.2-1] [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1] every packet the client sends in a whole session has the flags of table 2.2 (PUBLISH: DUP 0 on a first send, QoS 0..2)", { timeout: 15000 }, async (t) => {
  const env = cleanup(t);
  const fb = env.add(await fakeBroker(), (b) => b.close());
  const dev = env.add(device(fb.port, { client_id: "spec-flags", keep_alive: 1 }), (d) => d.close());
  await dev.connect();
  const c = fb.conns[0];
  await dev.subscribe({ "f/a": 0, "f/b": 1, "f/c": 2 });
  for (const qos of [0, 1, 2]) for (const retain of [false, true]) dev.client.publish(`f/${qos}`, "m", { qos, retain });
  c.send(publish("f/in1", "m", 1, 11));
  c.send(publish("f/in2", "m", 2, 12));
  await c.waitPacket((p) => p.type === PUBREC);
  c.send(ack(PUBREL, 12));
  await c.waitPacket((p) => p.type === PUBCOMP);
  dev.client.unsubscribe("f/a");
  await dev.waitEvent("unsubscribed");
  await c.waitPacket((p) => p.type === PINGREQ, 3000);
  await dev.board.waitFor(() => dev.stats().inflight === 0, 3000, "all outbound messages settled");
  dev.client.disconnect();
  await c.waitEnded();

  const want: Record<number, number> = { [CONNECT]: 0, [PUBACK]: 0, [PUBREC]: 0, [PUBREL]: 2, [PUBCOMP]: 0, [SUBSCRIBE]: 2,
    [UNSUBSCRIBE]: 2, [PINGREQ]: 0, [DISCONNECT]: 0 };
  const seen = new Set<number>();
  for (const p of c.packets) {
    seen.add(p.type);
    if (p.type === PUBLISH) {
      assert.equal(p.flags & 8, 0, `first send has DUP 0: ${describePkt(p)}`);
      assert.notEqual((p.flags >> 1) & 3, 3, `QoS 3: ${describePkt(p)}`);
      if (!((p.flags >> 1) & 3)) assert.equal(p.flags & 8, 0, "QoS 0: DUP 0");
    } else {
      assert.ok(p.type in want, `a client never sends ${TYPE_NAMES[p.type]}`);
      assert.equal(p.flags, want[p.type], `${TYPE_NAMES[p.type]} flags ${p.flags.toString(2).padStart(4, "0")}: ${describePkt(p)}`);
    }
  }
  const types = [...seen].sort((a, b) => a - b).map((x) => TYPE_NAMES[x]);
  assert.deepEqual(types, ["CONNECT", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBSCRIBE", "UNSUBSCRIBE", "PINGREQ", "DISCONNECT"],
    "every type a client sends was seen");
  noUncaught(dev);
});

test("[MQTT-3.1.2-23] keep-alive 2 s on the wire: no gap between the client's packets longer than 2 s, idle, while only receiving, while publishing; PINGREQ only when nothing else was sent", { timeout: 20000 }, async (t) => {
  const env = cleanup(t);
  const fb = env.add(await fakeBroker(), (b) => b.close());
  const KA = 2000, SLACK = 300; // timer scheduling on a busy host; brokers allow 1.5 x keep-alive
  const dev = env.add(device(fb.port, { client_id: "spec-ka", keep_alive: KA / 1000 }), (d) => d.close());
  await dev.connect();
  const c = fb.conns[0];
  const t0 = Date.now();
  // idle
  await sleep(3 * KA / 2 + 500);
  const t1 = Date.now();
  // only receiving: the broker publishes every 250 ms; that does not count as the client sending
  const feed = setInterval(() => c.send(publish("ka/in", "x", 0)), 250);
  env.add(feed, (h) => clearInterval(h));
  await sleep(3 * KA / 2 + 500);
  clearInterval(feed);
  const t2 = Date.now();
  // publishing (QoS 1, acknowledged) every 400 ms: no PINGREQ needed. (A client that only sends QoS 0
  // and hears nothing for two periods does ping, to find a dead link: more than the spec asks.)
  for (let i = 0; i < 10; i++) {
    assert.equal(dev.client.publish("ka/out", "m" + i, { qos: 1 }), true);
    await sleep(400);
  }
  const t3 = Date.now();
  const pk = c.packets;
  const pings = (a: number, b: number) => pk.filter((p) => p.type === PINGREQ && p.at >= a && p.at < b).length;
  const gaps = pk.slice(1).map((p, i) => [p.at - pk[i].at, i] as [number, number]);
  const worst = gaps.reduce((m, g) => (g[0] > m[0] ? g : m), [0, 0]);
  t.diagnostic(`PINGREQ idle ${pings(t0, t1)}, receiving ${pings(t1, t2)}, publishing ${pings(t2, t3)}; longest gap ${worst[0]} ms`);
  assert.ok(worst[0] <= KA + SLACK, `gap of ${worst[0]} ms before ${describePkt(pk[worst[1] + 1])}`);
  assert.ok(pings(t0, t1) >= 1, "idle: PINGREQ");
  assert.ok(pings(t1, t2) >= 1, "only receiving: still PINGREQ");
  assert.equal(pings(t2 + 500, t3), 0, "publishing: no PINGREQ");
  assert.equal(dev.count("disconnected"), 0);
  noUncaught(dev);
});

test("[MQTT-3.14.4-1] [MQTT-3.14.4-2] disconnect(): DISCONNECT is the last thing sent, the client closes the connection, and sends nothing after it (publish, subscribe, keep-alive, reconnect)", { timeout: 15000 }, async (t) => {
  const env = cleanup(t);
  const fb = env.add(await fakeBroker(), (b) => b.close());
  Object.assign(fb.answer, { publish: false, subscribe: false });
  const dev = env.add(device(fb.port, { client_id: "spec-bye", keep_alive: 1 }), (d) => d.close());
  await dev.connect();
  const c = fb.conns[0];
  // unfinished business: an unacknowledged QoS 1 message and an unanswered SUBSCRIBE
  assert.equal(dev.client.publish("b/1", "m", { qos: 1 }), true);
  assert.equal(dev.client.subscribe("b/#", { qos: 1 }), true);
  await c.waitPackets((p) => p.type === PUBLISH || p.type === SUBSCRIBE, 2);
  const from = dev.mark();
  dev.client.disconnect();
  await c.waitEnded(2000);
  assert.equal(c.packets.at(-1)?.type, DISCONNECT);
  assert.equal(hex(c.packets.at(-1)?.raw ?? ""), hex("\xe0\x00"));
  assert.ok(c.received.endsWith("\xe0\x00"), "no byte after the DISCONNECT");
  const [d] = await dev.waitEvent("disconnected", { from });
  assert.equal(d.args[0], "disconnect requested");

  // after it: calls and timers send nothing on that connection and open no other
  assert.equal(dev.client.publish("b/2", "later", { qos: 1 }), true, "queued for a later connect()");
  assert.equal(dev.client.publish("b/3", "q0"), false, "QoS 0 refused while disconnected");
  dev.client.subscribe("b/x");
  dev.client.unsubscribe("b/#");
  await sleep(2500); // more than two keep-alive periods and the first reconnect delay
  assert.ok(c.received.endsWith("\xe0\x00"), `nothing after the DISCONNECT: ${c.packets.slice(-3).map(describePkt).join(" ")}`);
  assert.equal(fb.conns.length, 1, "no new connection");
  assert.equal(dev.count("connected", from), 0);
  assert.equal(idOf(c.of(PUBLISH)[0]) > 0, true);
  noUncaught(dev);
});
