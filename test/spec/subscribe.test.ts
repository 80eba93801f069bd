// Spec conformance (MQTT 3.1.1 sections 3.8, 3.10, 4.7): the SUBSCRIBE and UNSUBSCRIBE packets the built
// client sends, read byte by byte at a fake broker, and the filters it refuses to send.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cleanup, device, noUncaught } from "../session/harness.js";
import { SUBSCRIBE, UNSUBSCRIBE, fakeBroker, field, hex, parseSubscribe, parseUnsubscribe, u16, utf8 } from "./broker.js";
import { sleep } from "../support/util.js";

async function setup(t: { after(fn: () => unknown): void }) {
  const env = cleanup(t);
  const fb = env.add(await fakeBroker(), (b) => b.close());
  const dev = env.add(device(fb.port, { client_id: "spec-sub" }), (d) => d.close());
  await dev.connect();
  return { fb, dev, c: fb.conns[0] };
}

test("[MQTT-3.8.1-1] [MQTT-3.8.3-1] [MQTT-3.8.3-3] [MQTT-2.3.1-1] SUBSCRIBE on the wire: flags 0010, a non-zero id, UTF-8 filters each followed by a QoS byte 0..2 with the reserved bits 0", { timeout: 10000 }, async (t) => {
  const { dev, c } = await setup(t);
  const filters: Record<string, number> = { "é/日本/+": 2, "a/#": 0, "+/b": 1, "#": 1, "$SYS/😀": 0 };
  assert.equal(dev.client.subscribe(filters), true);
  assert.equal(dev.client.subscribe("one", { qos: 2 }), true);
  const [p, q] = await c.waitPackets((x) => x.type === SUBSCRIBE, 2);
  assert.equal(p.flags, 2, "flags 0010");
  const s = parseSubscribe(p);
  assert.ok(s.id > 0, `packet id ${s.id}`);
  assert.deepEqual(s.pairs, Object.entries(filters).map(([f, qos]) => [utf8(f), qos]), "each filter as UTF-8, then its QoS");
  assert.equal(s.rest, "");
  for (const [, b] of s.pairs) assert.equal(b & 0xfc, 0, "reserved bits of the QoS byte");
  assert.equal(hex(q.raw), hex("\x82\x08" + u16(parseSubscribe(q).id) + field("one") + "\x02"), "the whole packet, by hand");
  await dev.waitEvent("subscribed", { count: 6 });
  noUncaught(dev);
});

test("[MQTT-3.10.1-1] [MQTT-3.10.3-1] [MQTT-2.3.1-1] UNSUBSCRIBE on the wire: flags 0010, a non-zero id, UTF-8 filters packed contiguously", { timeout: 10000 }, async (t) => {
  const { dev, c } = await setup(t);
  const filters = ["é/日本/+", "a/#", "plain"];
  assert.equal(dev.client.unsubscribe(filters), true);
  const p = await c.waitPacket((x) => x.type === UNSUBSCRIBE);
  assert.equal(p.flags, 2, "flags 0010");
  const u = parseUnsubscribe(p);
  assert.ok(u.id > 0);
  assert.equal(hex(p.body), hex(u16(u.id) + filters.map((f) => field(utf8(f))).join("")), "id, then the filters back to back");
  assert.equal(u.rest, "");
  await dev.waitEvent("unsubscribed", { count: 3 });
  noUncaught(dev);
});

test("[MQTT-3.8.3-3] [MQTT-3.10.3-2] no SUBSCRIBE or UNSUBSCRIBE without a filter, nor with a QoS other than 0..2: false, an error, nothing sent", { timeout: 10000 }, async (t) => {
  const { fb, dev, c } = await setup(t);
  assert.equal(dev.client.subscribe([]), false, "subscribe([])");
  assert.equal(dev.client.subscribe(dev.run("({})")), false, "subscribe({})");
  assert.equal(dev.client.unsubscribe([]), false, "unsubscribe([])");
  for (const qos of [3, -1, 1.5, 128]) {
    assert.equal(dev.client.subscribe(dev.run(`({"a": ${qos}})`)), false, `subscribe({a: ${qos}})`);
    assert.equal(dev.client.subscribe("a", dev.run(`({qos: ${qos}})`)), false, `subscribe("a", {qos: ${qos}})`);
  }
  // one bad filter among good ones: nothing of the request is sent
  assert.equal(dev.client.subscribe(dev.run(`({"ok/1": 1, "bad": 3})`)), false);
  await dev.board.flush();
  assert.equal(dev.errors("invalid_filter").length, 3 + 4 * 2 + 1);
  await sleep(200);
  assert.deepEqual(c.packets.map((p) => p.type), [1], "only the CONNECT went out");
  assert.equal(fb.conns.length, 1);
  noUncaught(dev);
});

test("[MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.3-1] [MQTT-4.7.3-2] [MQTT-4.7.3-3] [MQTT-3.8.3-1] [MQTT-3.10.3-1] subscribe and unsubscribe refuse invalid filters ('#' not alone or not last, '+' not alone, empty, U+0000, not UTF-8, over 65535 bytes) and send nothing; valid ones go out unchanged", { timeout: 10000 }, async (t) => {
  const { dev, c } = await setup(t);
  const bad = ["a#", "a/#/b", "#/a", "sport/tennis#", "##", "a+", "a/b+", "+a/b", "++", "+#", "", "a/\u0000", "a\ud800", "\udc00",
    "a/".repeat(32768), "é".repeat(32768)];
  for (const f of bad) {
    const name = `${JSON.stringify(f.slice(0, 8))} (${f.length} chars)`;
    assert.equal(dev.client.subscribe(f), false, `subscribe ${name}`);
    assert.equal(dev.client.unsubscribe(f), false, `unsubscribe ${name}`);
    assert.equal(dev.client.subscribe(["ok", f]), false, `subscribe ["ok", ${name}]`);
  }
  await dev.board.flush();
  assert.equal(dev.errors("invalid_filter").length, bad.length * 3);
  const good = ["#", "+", "+/+", "a/#", "/#", "a/+/b", "/", "a//b", "$SYS/#", "x".repeat(65535)];
  assert.equal(dev.client.subscribe(good), true);
  assert.equal(dev.client.unsubscribe(good), true);
  const s = await c.waitPacket((p) => p.type === SUBSCRIBE);
  const u = await c.waitPacket((p) => p.type === UNSUBSCRIBE);
  assert.deepEqual(parseSubscribe(s).pairs.map((x) => x[0]), good);
  assert.deepEqual(parseUnsubscribe(u).filters, good);
  assert.equal(c.packets.length, 3, "nothing else was sent");
  noUncaught(dev);
});
