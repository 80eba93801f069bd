// Fuzz findings, each kept as a fixed input. `H.runClient` replays the input with every fuzz property
// of test/fuzz/harness.ts; the direct checks below it say what went wrong before the fix.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as H from "./harness.js";

const OPTS: H.ClientOpts = {
  keep_alive: 60, clean_session: true, inflight: 8, queue: 8, max_packet: 1024, write_buffer: 2048,
  reconnect: true, protocol_level: 4, will: false,
};
const whole = (bytes: string, subs: H.SubSpec[] = [], opts: Partial<H.ClientOpts> = {}): H.ClientInput => ({
  opts: { ...OPTS, ...opts }, subs, stream: { kind: "random", bytes }, split: { mode: 2, cuts: [] }, actions: [],
});
const CONNACK_0 = "\x20\x02\x00\x00";
const PUBLISH_QOS1 = "\x32\x05\x00\x01a\x00\x01"; // topic "a", packet id 1, empty payload

test("fuzz #1: a refused CONNACK and a malformed length in one chunk leave one reconnect timer and no open socket", () => {
  // As the fuzzer found it (seed 1, shrunk): CONNACK 1, a PUBLISH, then a 5-byte remaining length.
  const found: H.ClientInput = JSON.parse(String.raw`{"opts":{"keep_alive":1,"clean_session":false,"inflight":1,"queue":0,"max_packet":16,"write_buffer":64,"reconnect":true,"protocol_level":4,"will":false},"subs":[],"stream":{"kind":"mutated","bytes":" \u0002\u0000\u00010\u0006\u0000\u0004\u00f0\u0090 \u0002\u0000\u00010\u0006\u0000\u0005\u00f0\u0090\u0080\u0080"},"split":{"mode":0,"cuts":[]},"actions":[]}`);
  assert.equal(H.runClient(found, H.newStats()), undefined);

  // Minimal: CONNACK 5 (not authorized) + a length that never ends. The refusal closed the connection
  // and scheduled a reconnect; the framer then threw on the rest of the chunk and the client closed
  // again: a second reconnect timer, so two sockets later, the first never ended.
  const st = H.newStats(), rig = new H.ClientRig(OPTS, st);
  rig.run(whole("\x20\x02\x00\x05\x30\xff\xff\xff\xff"));
  assert.equal(rig.failure, undefined);
  assert.equal(rig.clock.count(false), 1, "exactly one reconnect pending");
  assert.equal(st.events["error:protocol"], undefined, "the bytes after the refusal belong to no connection");
  assert.equal(st.events["error:not_authorized"], 1);
  rig.clock.advance(1000); // the first backoff: 0.5..1 s
  assert.equal(rig.sockets.length, 2, "one new connection attempt");
  assert.equal(rig.sockets[0].ended, true);
  rig.check();
  assert.equal(rig.failure, undefined);
});

test("fuzz #2: a message handler that calls disconnect() gets no TypeError reported as a protocol error", () => {
  // As found (seed 1, shrunk): CONNACK 0, then a QoS 1 PUBLISH to a subscriber whose handler disconnects.
  const found: H.ClientInput = JSON.parse(String.raw`{"opts":{"keep_alive":1,"clean_session":false,"inflight":1,"queue":0,"max_packet":16,"write_buffer":2048,"reconnect":true,"protocol_level":4,"will":false},"subs":[{"filter":"#","qos":0,"handler":"disconnect"}],"stream":{"kind":"valid","bytes":" \u0002\u0000\u00002\u0005\u0000\u0001a\u0000\u0001","packets":[{"type":2,"id":0,"rc":0,"sp":false},{"type":3,"id":1,"topic":"a","payload":"","qos":1,"dup":false,"retain":false}]},"split":{"mode":0,"cuts":[]},"actions":[]}`);
  assert.equal(H.runClient(found, H.newStats()), undefined);

  // Before the fix the PUBACK went to the socket the handler had just dropped: TypeError
  // "Cannot read properties of undefined (reading 'write')", caught and reported as error code "protocol".
  const st = H.newStats(), rig = new H.ClientRig(OPTS, st);
  rig.run(whole(CONNACK_0 + PUBLISH_QOS1, [{ filter: "#", qos: 1, handler: "disconnect" }]));
  assert.equal(rig.failure, undefined);
  assert.equal(st.events.publish, 1, "delivered once");
  assert.equal(st.events["error:protocol"], undefined);
  assert.equal(rig.client._want, 0, "stays disconnected as asked");
  assert.equal(rig.sockets[0].ended, true);
});

test("fuzz #2b: a handler that disconnects and connects again: no PUBACK on the new connection before its CONNECT", () => {
  const st = H.newStats(), rig = new H.ClientRig(OPTS, st);
  rig.run(whole(CONNACK_0 + PUBLISH_QOS1, [{ filter: "#", qos: 1, handler: "reconnect" }]));
  assert.equal(rig.failure, undefined);
  assert.equal(rig.sockets.length, 2);
  assert.equal(rig.sockets[1].written, 0, "nothing written before the new socket connects");
  rig.clock.advance(100);
  assert.equal(rig.sockets[1].written, 1, "then only its CONNECT");
  assert.equal(rig.failure, undefined);
});

test("fuzz #3: a SUBACK with fewer return codes than filters is a protocol error, not subscribe_failed(filter, undefined)", () => {
  // As found (seed 8, shrunk): two subscriptions, CONNACK 0 (the client resubscribes both in one
  // SUBSCRIBE, id 3), then a SUBACK for id 3 with one return code.
  const found: H.ClientInput = JSON.parse(String.raw`{"opts":{"keep_alive":1,"clean_session":false,"inflight":1,"queue":0,"max_packet":16,"write_buffer":64,"reconnect":true,"protocol_level":4,"will":false},"subs":[{"filter":"#","qos":0,"handler":"none"},{"filter":"a","qos":0,"handler":"none"}],"stream":{"kind":"valid","bytes":" \u0002\u0000\u0000\u0090\u0003\u0000\u0003\u0000","packets":[{"type":2,"id":0,"rc":0,"sp":false},{"type":9,"id":3,"granted":[0]}]},"split":{"mode":0,"cuts":[]},"actions":[]}`);
  assert.equal(H.runClient(found, H.newStats()), undefined);

  // Since a new session resubscribes one filter per SUBSCRIBE, the two-filter request here is the
  // user's own subscribe(["a", "b"]) (packet id 1), kept because the session is present.
  const st = H.newStats(), rig = new H.ClientRig(OPTS, st);
  rig.client.subscribe(["a", "b"], { qos: 1 });
  rig.run(whole("\x20\x02\x01\x00" + "\x90\x03\x00\x01\x01"));
  assert.equal(rig.failure, undefined);
  assert.equal(st.events["error:protocol"], 1, "the connection is closed [MQTT-4.8.0-1]");
  assert.equal(st.events.subscribe_failed, undefined);
  assert.equal(st.events.subscribed, undefined);
  assert.deepEqual(Object.keys(rig.client._subs || {}).sort(), ["a", "b"], "both subscriptions kept, sent again on reconnect");
});

test("fuzz #4: the end of an oversize message changes the remembered topic: the data handler's fast path sees it", () => {
  // As found (shrunk): CONNACK 0, a QoS 0 message on "b" (the topic the fast path then takes), an
  // oversize message on "a" in pieces, then "b" again. The data handler had read the
  // remembered topic before finishing the oversize one (which remembers "a"), and delivered the last
  // message under the topic "a".
  const oversize = "\x30\x87\x07\x00\x01a" + "\x00".repeat(900);
  const st = H.newStats(), rig = new H.ClientRig({ ...OPTS, max_packet: 16 }, st);
  const got: string[] = [];
  const emit = rig.client.emit;
  rig.client.emit = (ev: string, a?: unknown, b?: unknown) => {
    if (ev == "message") got.push(`${a}:${b}`);
    emit.call(rig.client, ev, a, b);
  };
  // Cut so that the oversize message ends in the chunk that also holds the last message.
  const before = CONNACK_0 + "\x30\x04\x00\x01bx" + oversize.slice(0, -1);
  rig.run({ ...whole(before + oversize.slice(-1) + "\x30\x04\x00\x01by"), split: { mode: 0, cuts: [CONNACK_0.length + 6, before.length - 400, before.length] } });
  assert.equal(rig.failure, undefined);
  assert.deepEqual(got, ["b:x", "b:y"]);
  assert.equal(st.events["error:oversize"], 1);
});
