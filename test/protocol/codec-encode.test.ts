// Encoders of src/protocol/codec.ts: every packet a client sends, compared byte
// for byte with the reference encoder (mqtt-packet's generate) or with bytes
// written by hand from the spec's layout, plus the helpers that read encoded
// packets back (findId, filtersOf, the DUP bit) and the fixed header (frame).
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK,
  PINGREQ, PINGRESP, DISCONNECT, PINGREQ_PACKET, DISCONNECT_PACKET,
  frame, field, u16, encodeConnect, encodePublish, encodeAck, encodeSubscription, findId, filtersOf,
  type ConnectFields,
} from "../../src/protocol/codec.js";
import { ref, refParse, utf8, bytes, allBytes, splitPacket, hex } from "./helpers.js";
import type { IConnectPacket, QoS } from "mqtt-packet";

const buf = (s: string) => Buffer.from(s, "latin1");
/** Packet type: the high nibble of the first byte (spec 2.2.1). */
const typeOf = (p: string) => p.charCodeAt(0) >> 4;
/** SUBSCRIBE / UNSUBSCRIBE through the shared encoder. */
const encodeSubscribe = (id: number, filters: string[], qos: number[]) => encodeSubscription(id, filters, qos);
const encodeUnsubscribe = (id: number, filters: string[]) => encodeSubscription(id, filters);
/** What the client does to mark a resend: set bit 3 (DUP) of the stored first byte. */
const withDup = (p: string) => String.fromCharCode(p.charCodeAt(0) | 8) + p.substr(1);

test("packet type numbers are those of spec table 2.1", () => {
  assert.deepEqual(
    [CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK,
      PINGREQ, PINGRESP, DISCONNECT],
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
});

describe("frame: remaining length encoding (spec 2.2.3, table 2.4)", () => {
  // [remaining length, its encoding as in the spec's table / by the 7-bit rule]
  const table: [number, number[]][] = [
    [0, [0x00]],
    [1, [0x01]],
    [127, [0x7f]],
    [128, [0x80, 0x01]],
    [129, [0x81, 0x01]],
    [321, [0xc1, 0x02]],
    [16383, [0xff, 0x7f]],
    [16384, [0x80, 0x80, 0x01]],
    [2097151, [0xff, 0xff, 0x7f]],
    [2097152, [0x80, 0x80, 0x80, 0x01]],
  ];
  for (const [n, enc] of table) {
    test(`remaining length ${n} is encoded as ${hex(bytes(...enc))}`, () => {
      const body = "x".repeat(n);
      const p = frame(0x30, body);
      assert.equal(p.charCodeAt(0), 0x30);
      assert.equal(hex(p.substr(1, enc.length)), hex(bytes(...enc)));
      assert.equal(p.length, 1 + enc.length + n);
      assert.ok(p.substr(1 + enc.length) === body);
    });
  }

  // The largest packets can't be built in a unit test (256 MB); a stand-in body
  // with that length and no content shows the header frame() computes.
  const fakeBody = (length: number) => ({ length, valueOf: () => "", toString: () => "" }) as unknown as string;
  test("remaining length 268435455 (the maximum) is encoded as ff ff ff 7f", () => {
    assert.equal(hex(frame(0x30, fakeBody(268435455))), "30ffffff7f");
  });
});

test("u16 and field: 2-byte big-endian integers (spec 1.5.2), length-prefixed strings (spec 1.5.3)", () => {
  assert.equal(hex(u16(0)), "0000");
  assert.equal(hex(u16(1)), "0001");
  assert.equal(hex(u16(255)), "00ff");
  assert.equal(hex(u16(256)), "0100");
  assert.equal(hex(u16(0xabcd)), "abcd");
  assert.equal(hex(u16(65535)), "ffff");
  assert.equal(hex(field("")), "0000");
  assert.equal(hex(field("MQTT")), "00044d515454");
  assert.equal(hex(field("x".repeat(256)).slice(0, 2)), "0100");
  assert.equal(hex(field("x".repeat(65535)).slice(0, 2)), "ffff");
});

describe("encodeConnect", () => {
  type Will = NonNullable<ConnectFields["will"]>;
  const wills: (Will | undefined)[] = [undefined];
  for (const qos of [0, 1, 2]) for (const retain of [false, true]) {
    wills.push({ topic: utf8("will/é"), message: qos == 2 ? allBytes() : "bye", qos, retain });
  }
  const auths: { username?: string; password?: string }[] = [
    {}, { username: "user" }, { username: "" }, { username: utf8("üser") , password: "pw" },
    { username: "u", password: allBytes() }, { username: "u", password: "" },
  ];
  const protocols: [string, 3 | 4][] = [["MQTT", 4], ["MQIsdp", 3]];
  const clientIds = ["", "c", "mote-日本"];
  const keepAlives = [0, 1, 60, 127, 128, 256, 65535];

  test("[MQTT-3.1.2-*] [MQTT-3.1.3-1] every flag combination matches mqtt-packet byte for byte", () => {
    let compared = 0;
    for (const [protocolName, protocolLevel] of protocols)
      for (const clean of [true, false])
        for (const will of wills)
          for (const auth of auths)
            for (const keepAlive of keepAlives)
              for (const id of clientIds) {
                // mqtt-packet refuses (as the spec does) an empty client id with
                // MQTT 3.1, or with clean session off [MQTT-3.1.3-7]; the client
                // layer refuses those too, so there is nothing to compare.
                if (!id && (protocolLevel == 3 || !clean)) continue;
                const fields: ConnectFields = { protocolName, protocolLevel, clientId: utf8(id), keepAlive, clean };
                const r: IConnectPacket = { cmd: "connect", protocolId: protocolName as "MQTT", protocolVersion: protocolLevel,
                  clientId: id, keepalive: keepAlive, clean };
                if (will) {
                  fields.will = will;
                  r.will = { topic: "will/é", payload: buf(will.message), qos: will.qos as QoS, retain: will.retain };
                }
                if (auth.username !== undefined) {
                  fields.username = auth.username;
                  r.username = Buffer.from(auth.username, "latin1").toString("utf8");
                }
                if (auth.password !== undefined) {
                  fields.password = auth.password;
                  r.password = buf(auth.password);
                }
                const ours = encodeConnect(fields), theirs = ref(r);
                if (ours !== theirs) {
                  assert.fail(`CONNECT ${JSON.stringify({ protocolName, clean, will: !!will && [will.qos, will.retain], auth: Object.keys(auth), keepAlive, id })}\n ours   ${hex(ours)}\n theirs ${hex(theirs)}`);
                }
                compared++;
              }
    assert.ok(compared > 2000, `compared ${compared} combinations`);
  });

  test("spec 3.1.2.10 example variable header (MQTT, level 4, flags CE, keep alive 10), written by hand", () => {
    const p = encodeConnect({ protocolName: "MQTT", protocolLevel: 4, clientId: "id", keepAlive: 10, clean: true,
      will: { topic: "w", message: "m", qos: 1, retain: false }, username: "u", password: "p" });
    const body = "\x00\x04MQTT\x04\xce\x00\x0a" + "\x00\x02id" + "\x00\x01w" + "\x00\x01m" + "\x00\x01u" + "\x00\x01p";
    assert.equal(hex(p), hex("\x10" + String.fromCharCode(body.length) + body));
  });

  test("[MQTT-3.1.3-3] empty client id with clean session: zero-length field first in the payload, by hand", () => {
    const p = encodeConnect({ protocolName: "MQTT", protocolLevel: 4, clientId: "", keepAlive: 60, clean: true });
    assert.equal(hex(p), hex("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"));
  });

  test("MQIsdp level 3 header, by hand", () => {
    const p = encodeConnect({ protocolName: "MQIsdp", protocolLevel: 3, clientId: "a", keepAlive: 65535, clean: false });
    assert.equal(hex(p), hex("\x10\x0f\x00\x06MQIsdp\x03\x00\xff\xff\x00\x01a"));
  });

  test("[MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15] [MQTT-3.1.2-18] [MQTT-3.1.2-20] no will, user or password: their flags are 0 and the fields absent", () => {
    const p = encodeConnect({ protocolName: "MQTT", protocolLevel: 4, clientId: "abc", keepAlive: 5, clean: false });
    const { body } = splitPacket(p);
    assert.equal(body.charCodeAt(7), 0x00, "connect flags");
    assert.equal(body.length, 10 + 5, "variable header + client id only");
  });

  test("[MQTT-3.1.2-9] [MQTT-3.1.2-14] will flag, QoS bits 3-4 and retain bit 5 as given, reserved bit 0 clear", () => {
    for (const qos of [0, 1, 2]) for (const retain of [false, true]) {
      const p = encodeConnect({ protocolName: "MQTT", protocolLevel: 4, clientId: "c", keepAlive: 5, clean: true,
        will: { topic: "t", message: "m", qos, retain } });
      const flags = splitPacket(p).body.charCodeAt(7);
      assert.equal(flags, 0x02 | 0x04 | qos << 3 | (retain ? 0x20 : 0), `qos ${qos} retain ${retain}`);
    }
  });

  test("[MQTT-3.1.2-19] [MQTT-3.1.2-21] [MQTT-3.1.3-1] user name and password flags and field order, read back by mqtt-packet's parser", () => {
    const p = encodeConnect({ protocolName: "MQTT", protocolLevel: 4, clientId: utf8("cé"), keepAlive: 300, clean: false,
      will: { topic: utf8("w/日"), message: "\x00\xff\x80", qos: 2, retain: true }, username: utf8("üser"), password: "\x00\x01\xfe" });
    const { packets, errors } = refParse(p);
    assert.deepEqual(errors, []);
    assert.equal(packets.length, 1);
    const c = packets[0];
    assert.equal(c.cmd, "connect");
    assert.equal(c.protocolId, "MQTT");
    assert.equal(c.protocolVersion, 4);
    assert.equal(c.clean, false);
    assert.equal(c.keepalive, 300);
    assert.equal(c.clientId, "cé");
    assert.equal(c.will.topic, "w/日");
    assert.equal(hex(c.will.payload.toString("latin1")), "00ff80");
    assert.equal(c.will.qos, 2);
    assert.equal(c.will.retain, true);
    assert.equal(c.username, "üser");
    assert.equal(hex(c.password.toString("latin1")), "0001fe");
  });

  test("a CONNECT whose remaining length needs 2 bytes (long will message) matches mqtt-packet", () => {
    const message = allBytes(2);
    const ours = encodeConnect({ protocolName: "MQTT", protocolLevel: 4, clientId: "c", keepAlive: 60, clean: true,
      will: { topic: "t", message, qos: 1, retain: false } });
    const theirs = ref({ cmd: "connect", clientId: "c", keepalive: 60, clean: true, protocolId: "MQTT", protocolVersion: 4,
      will: { topic: "t", payload: buf(message), qos: 1, retain: false } });
    assert.equal(hex(ours), hex(theirs));
    assert.equal(splitPacket(ours).lengthBytes.length, 2);
  });
});

describe("encodePublish", () => {
  const topics = ["a", "sport/tennis/player1", "é/日本/😀", "$SYS/x", "/"];
  const payloads: [string, string][] = [["empty", ""], ["text", "hello"], ["all 256 byte values", allBytes()]];
  for (const qos of [0, 1, 2] as QoS[]) for (const retain of [false, true]) {
    test(`QoS ${qos}${retain ? " retained" : ""}: matches mqtt-packet for several topics and payloads`, () => {
      for (const topic of topics) for (const [, payload] of payloads) for (const id of [1, 2, 255, 256, 0x1234, 65535]) {
        const ours = encodePublish(field(utf8(topic)), payload, qos, retain, id);
        const theirs = ref({ cmd: "publish", topic, payload: buf(payload), qos, retain, dup: false,
          ...(qos ? { messageId: id } : {}) });
        assert.equal(hex(ours), hex(theirs), `topic ${topic} payload ${payload.length} bytes id ${id}`);
        if (!qos) break; // the id is ignored at QoS 0
      }
    });
  }

  test("[MQTT-2.3.1-5] [MQTT-3.3.1-2] [MQTT-4.3.1-1] QoS 0: no packet id, DUP 0, whatever id is passed", () => {
    const p = encodePublish(field("t"), "m", 0, false, 4242);
    assert.equal(hex(p), hex("\x30\x04\x00\x01tm"));
  });

  test("[MQTT-4.3.2-1] QoS 1 header 0x32 with the packet id after the topic, DUP 0, by hand", () => {
    assert.equal(hex(encodePublish(field("t"), "m", 1, false, 0x0102)), hex("\x32\x06\x00\x01t\x01\x02m"));
  });

  test("[MQTT-4.3.3-1] QoS 2 retained header 0x35, DUP 0, by hand", () => {
    assert.equal(hex(encodePublish(field("t"), "", 2, true, 65535)), hex("\x35\x05\x00\x01t\xff\xff"));
  });

  test("payload bytes are carried unchanged (binary-safe): all 256 values, parsed back by mqtt-packet", () => {
    const payload = allBytes(3);
    const { packets, errors } = refParse(encodePublish(field(utf8("bin/é")), payload, 1, false, 9));
    assert.deepEqual(errors, []);
    assert.equal(packets[0].topic, "bin/é");
    assert.equal(packets[0].messageId, 9);
    assert.ok(packets[0].payload.toString("latin1") === payload);
  });

  // Remaining-length boundaries: payload sized so that the remaining length is exactly n.
  for (const [n, lenBytes] of [[127, 1], [128, 2], [16383, 2], [16384, 3], [2097151, 3], [2097152, 4]] as [number, number][]) {
    for (const qos of [0, 1] as QoS[]) {
      test(`remaining length ${n} (QoS ${qos}) uses ${lenBytes} length byte(s) and matches mqtt-packet`, () => {
        const topic = "big/t", payload = "\xa5".repeat(n - 2 - topic.length - (qos ? 2 : 0));
        const ours = encodePublish(field(topic), payload, qos, false, 77);
        const theirs = ref({ cmd: "publish", topic, payload: buf(payload), qos, retain: false, dup: false,
          ...(qos ? { messageId: 77 } : {}) });
        const s = splitPacket(ours);
        assert.equal(s.lengthBytes.length, lenBytes);
        assert.equal(s.body.length, n);
        assert.ok(ours === theirs, "differs from mqtt-packet: " + hex(ours.slice(0, 16)) + " vs " + hex(theirs.slice(0, 16)));
      });
    }
  }
});

describe("encodeAck", () => {
  const kinds: [number, "puback" | "pubrec" | "pubrel" | "pubcomp", number][] = [
    [PUBACK, "puback", 0x40], [PUBREC, "pubrec", 0x50], [PUBREL, "pubrel", 0x62], [PUBCOMP, "pubcomp", 0x70]];
  for (const [type, cmd, first] of kinds) {
    const ids = [1, 2, 255, 256, 0x1234, 65534, 65535];
    const title = type == PUBREL ? "[MQTT-2.2.2-1] [MQTT-3.6.1-1] PUBREL has flags 0010" : `[MQTT-2.2.2-1] ${cmd.toUpperCase()} has flags 0000`;
    test(`${title} and matches mqtt-packet for ids ${ids.join(",")}`, () => {
      for (const id of ids) {
        const ours = encodeAck(type, id);
        assert.equal(hex(ours), hex(ref({ cmd, messageId: id })), `id ${id}`);
        assert.equal(hex(ours), hex(bytes(first, 2, id >> 8, id & 255)), `id ${id}, by hand`);
        assert.equal(typeOf(ours), type);
      }
    });
  }
});

describe("encodeSubscribe / encodeUnsubscribe", () => {
  test("[MQTT-3.8.1-1] SUBSCRIBE has flags 0010, by hand", () => {
    assert.equal(hex(encodeSubscribe(10, ["a/b"], [1])), hex("\x82\x08\x00\x0a\x00\x03a/b\x01"));
  });

  test("[MQTT-3.8.3-1] SUBSCRIBE with several filters and QoS matches mqtt-packet", () => {
    const cases: [number, string[], QoS[]][] = [
      [1, ["a"], [0]],
      [2, ["sport/tennis/+", "sport/#", "$SYS/#"], [0, 1, 2]],
      [0x1234, ["é/+/日本", "#", "+/+", "/"], [2, 2, 0, 1]],
      [65535, Array.from({ length: 30 }, (_, i) => "filter/number/" + i), Array.from({ length: 30 }, (_, i) => (i % 3) as QoS)],
    ];
    for (const [id, filters, qos] of cases) {
      const ours = encodeSubscribe(id, filters.map(utf8), qos);
      const theirs = ref({ cmd: "subscribe", messageId: id, subscriptions: filters.map((topic, i) => ({ topic, qos: qos[i] })) });
      assert.equal(hex(ours), hex(theirs), `id ${id}`);
      assert.equal(ours.charCodeAt(0), 0x82);
    }
  });

  test("[MQTT-3.10.1-1] UNSUBSCRIBE has flags 0010, by hand", () => {
    assert.equal(hex(encodeUnsubscribe(10, ["a/b"])), hex("\xa2\x07\x00\x0a\x00\x03a/b"));
  });

  test("[MQTT-3.10.3-1] UNSUBSCRIBE with several filters matches mqtt-packet", () => {
    const cases: [number, string[]][] = [
      [1, ["a"]],
      [300, ["sport/tennis/+", "sport/#", "é/日本"]],
      [65535, Array.from({ length: 30 }, (_, i) => "filter/number/" + i)],
    ];
    for (const [id, filters] of cases) {
      const ours = encodeUnsubscribe(id, filters.map(utf8));
      assert.equal(hex(ours), hex(ref({ cmd: "unsubscribe", messageId: id, unsubscriptions: filters })), `id ${id}`);
      assert.equal(ours.charCodeAt(0), 0xa2);
    }
  });
});

test("[MQTT-2.2.2-1] PINGREQ and DISCONNECT constants match mqtt-packet and the spec (c0 00, e0 00)", () => {
  assert.equal(hex(PINGREQ_PACKET), hex(ref({ cmd: "pingreq" })));
  assert.equal(hex(DISCONNECT_PACKET), hex(ref({ cmd: "disconnect" })));
  assert.equal(hex(PINGREQ_PACKET), "c000");
  assert.equal(hex(DISCONNECT_PACKET), "e000");
  assert.equal(typeOf(PINGREQ_PACKET), PINGREQ);
  assert.equal(typeOf(DISCONNECT_PACKET), DISCONNECT);
});

describe("reading encoded packets back: packet type, findId, DUP bit, filtersOf", () => {
  test("the type nibble of every encoded packet is its type", () => {
    assert.equal(typeOf(encodeConnect({ protocolName: "MQTT", protocolLevel: 4, clientId: "c", keepAlive: 1, clean: true })), CONNECT);
    assert.equal(typeOf(encodePublish(field("t"), "", 0, false, 0)), PUBLISH);
    assert.equal(typeOf(encodePublish(field("t"), "", 2, true, 5)), PUBLISH);
    assert.equal(typeOf(encodeSubscribe(1, ["a"], [0])), SUBSCRIBE);
    assert.equal(typeOf(encodeUnsubscribe(1, ["a"])), UNSUBSCRIBE);
    for (const t of [PUBACK, PUBREC, PUBREL, PUBCOMP]) assert.equal(typeOf(encodeAck(t, 1)), t);
  });

  test("findId finds by packet id a PUBLISH QoS 1/2 (any topic length, 1..4 length bytes), PUBREL, SUBSCRIBE, UNSUBSCRIBE", () => {
    // p is found behind a packet with another id, and not found by any other id.
    const idOf = (p: string, id: number) => {
      const other = id % 65535 + 1;
      assert.equal(findId([p], other), -1, `id ${other} is not found`);
      return findId([encodeAck(PUBREL, other), p], id) == 1 ? id : -1;
    };
    for (const id of [1, 255, 256, 0xabcd, 65535]) {
      for (const topic of ["t", utf8("é/日本"), "x".repeat(200), "y".repeat(60000)]) {
        for (const payloadLen of [0, 100, 20000, 2100000]) {
          if (topic.length > 1000 && payloadLen > 100) continue;
          const p = encodePublish(field(topic), "p".repeat(payloadLen), 1 + (id & 1), false, id);
          assert.equal(idOf(p, id), id, `topic ${topic.length} payload ${payloadLen}`);
          assert.equal(idOf(withDup(p), id), id, "the DUP bit does not move the id");
        }
      }
      assert.equal(idOf(encodeAck(PUBREL, id), id), id);
      assert.equal(idOf(encodeAck(PUBACK, id), id), id);
      assert.equal(idOf(encodeSubscribe(id, ["a/b", "c"], [1, 2]), id), id);
      assert.equal(idOf(encodeSubscribe(id, Array.from({ length: 50 }, (_, i) => "f/" + i), Array(50).fill(1)), id), id);
      assert.equal(idOf(encodeUnsubscribe(id, ["a/b"]), id), id);
      assert.equal(idOf(encodeUnsubscribe(id, Array.from({ length: 50 }, (_, i) => "f/" + i)), id), id);
    }
  });

  test("[MQTT-3.3.1-1] bit 3 of an encoded PUBLISH is DUP: setting it gives mqtt-packet's dup:true encoding", () => {
    for (const qos of [1, 2] as QoS[]) for (const retain of [false, true]) {
      for (const payload of ["", "m", allBytes()]) {
        const p = encodePublish(field(utf8("a/é")), payload, qos, retain, 513);
        assert.equal(p.charCodeAt(0) & 8, 0, "[MQTT-4.3.2-1] [MQTT-4.3.3-1] a new PUBLISH has DUP 0");
        assert.equal(hex(withDup(p)), hex(ref({ cmd: "publish", topic: "a/é", payload: buf(payload), qos, retain, dup: true, messageId: 513 })));
      }
    }
  });

  test("filtersOf lists the filters of SUBSCRIBE and UNSUBSCRIBE (UTF-8 bytes), also with 2-byte remaining lengths", () => {
    const sets = [["a"], ["sport/tennis/+", "#", "/", utf8("é/日本")], Array.from({ length: 40 }, (_, i) => "filter/" + i + "/#")];
    for (const filters of sets) {
      const sub = encodeSubscribe(7, filters, filters.map((_, i) => i % 3));
      const unsub = encodeUnsubscribe(7, filters);
      assert.deepEqual(filtersOf(sub), filters);
      assert.deepEqual(filtersOf(unsub), filters);
    }
    // On a reference encoding too
    assert.deepEqual(filtersOf(ref({ cmd: "subscribe", messageId: 3, subscriptions: [{ topic: "x/+", qos: 1 }, { topic: "日", qos: 2 }] })),
      ["x/+", utf8("日")]);
    assert.deepEqual(filtersOf(ref({ cmd: "unsubscribe", messageId: 3, unsubscriptions: ["x/+", "日"] })), ["x/+", utf8("日")]);
  });
});
