// decode() of src/protocol/codec.ts: every packet a broker sends, from
// mqtt-packet's reference encoder, and the rejection of every packet a
// conforming broker never sends (a protocol error closes the connection
// [MQTT-4.8.0-1]).
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  decode, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, PINGRESP,
} from "../../src/protocol/codec.js";
import { ref, utf8, bytes, allBytes, splitPacket, hex, throwsProtocol } from "./helpers.js";
import type { RefPacket } from "./helpers.js";
import type { QoS } from "mqtt-packet";

const buf = (s: string) => Buffer.from(s, "latin1");

/** decode() a complete encoded packet. */
function dec(p: string, oversize?: boolean) {
  const s = splitPacket(p);
  return decode(s.first, s.body, oversize);
}

describe("decode: packets a broker sends, from mqtt-packet", () => {
  test("CONNACK with session present 0/1 and return codes 0..5", () => {
    for (const sessionPresent of [false, true]) for (let rc = 0; rc <= 5; rc++) {
      assert.deepEqual(dec(ref({ cmd: "connack", sessionPresent, returnCode: rc })),
        { type: CONNACK, id: 0, sessionPresent, returnCode: rc }, `sp ${sessionPresent} rc ${rc}`);
    }
  });

  const topics = ["a", "sport/tennis/player1", "é/日本/😀", "$SYS/broker/load", "/", "a//b", " "];
  const payloads = ["", "hello", allBytes(), "\x00"];
  for (const qos of [0, 1, 2] as QoS[]) for (const dup of qos ? [false, true] : [false]) for (const retain of [false, true]) {
    test(`PUBLISH QoS ${qos}${dup ? " dup" : ""}${retain ? " retain" : ""}: topic, id, flags and payload`, () => {
      for (const topic of topics) for (const payload of payloads) for (const id of qos ? [1, 256, 65535] : [0]) {
        const r: RefPacket = { cmd: "publish", topic, payload: buf(payload), qos, dup, retain };
        if (qos) r.messageId = id;
        assert.deepEqual(dec(ref(r)), { type: PUBLISH, id, topic, message: payload, qos, dup, retain },
          `topic ${topic} payload ${hex(payload.slice(0, 8))}(${payload.length}) id ${id}`);
      }
    });
  }

  test("PUBLISH with a payload needing a 3-byte remaining length", () => {
    const payload = allBytes(100);
    const p = ref({ cmd: "publish", topic: "big", payload: buf(payload), qos: 1, dup: false, retain: false, messageId: 9 });
    assert.equal(splitPacket(p).lengthBytes.length, 3);
    const d = dec(p);
    assert.equal(d.topic, "big");
    assert.equal(d.id, 9);
    assert.ok(d.message === payload);
  });

  const acks: [string, number][] = [["puback", PUBACK], ["pubrec", PUBREC], ["pubrel", PUBREL], ["pubcomp", PUBCOMP], ["unsuback", UNSUBACK]];
  for (const [cmd, type] of acks) {
    test(`${cmd.toUpperCase()} gives its packet id`, () => {
      for (const id of [1, 2, 255, 256, 0x8001, 65535]) {
        assert.deepEqual(dec(ref({ cmd, messageId: id } as RefPacket)), { type, id });
      }
    });
  }

  test("SUBACK with granted QoS 0, 1, 2 and failure 0x80", () => {
    const cases = [[0], [1], [2], [0x80], [0, 1, 2, 0x80], Array.from({ length: 200 }, (_, i) => [0, 1, 2, 0x80][i % 4])];
    for (const granted of cases) for (const id of [1, 4660, 65535]) {
      assert.deepEqual(dec(ref({ cmd: "suback", messageId: id, granted })), { type: SUBACK, id, granted });
    }
  });

  test("PINGRESP", () => {
    assert.deepEqual(dec(ref({ cmd: "pingresp" })), { type: PINGRESP, id: 0 });
  });

  test("[MQTT-1.5.3-3] U+FEFF in a topic is kept, not stripped", () => {
    for (const topic of ["\ufeff", "\ufeffa/b", "a/\ufeff/b"]) {
      const d = dec(ref({ cmd: "publish", topic, payload: buf("\xef\xbb\xbf"), qos: 0, dup: false, retain: false }));
      assert.equal(d.topic, topic);
      assert.equal(d.message, "\xef\xbb\xbf", "payload bytes unchanged");
    }
  });
});

describe("decode: rejects what a broker never sends", () => {
  // A valid body for each type a broker sends (first byte given with correct flags).
  const good: [string, number, string][] = [
    ["CONNACK", 0x20, "\x00\x00"],
    ["PUBACK", 0x40, "\x00\x01"],
    ["PUBREC", 0x50, "\x00\x01"],
    ["PUBREL", 0x62, "\x00\x01"],
    ["PUBCOMP", 0x70, "\x00\x01"],
    ["SUBACK", 0x90, "\x00\x01\x00"],
    ["UNSUBACK", 0xb0, "\x00\x01"],
    ["PINGRESP", 0xd0, ""],
  ];
  test("(sanity) those bodies with the right flags are accepted", () => {
    for (const [name, first, body] of good) assert.doesNotThrow(() => decode(first, body), name);
  });

  for (const [name, first, body] of good) {
    const right = first & 15;
    const wrong = Array.from({ length: 16 }, (_, f) => f).filter((f) => f !== right);
    test(`[MQTT-2.2.2-2]${name == "PUBREL" ? " [MQTT-3.6.1-1]" : ""} ${name} with reserved flags other than ${right.toString(2).padStart(4, "0")} (${wrong.length} values) is rejected`, () => {
      for (const f of wrong) throwsProtocol(() => decode(first & 0xf0 | f, body), `${name} flags ${f.toString(2)}`);
    });
  }

  test("packet types a broker never sends: 0, CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT, 15 (any flags)", () => {
    const samples: [string, string][] = [
      ["CONNECT", ref({ cmd: "connect", clientId: "c", protocolId: "MQTT", protocolVersion: 4, clean: true, keepalive: 10 })],
      ["SUBSCRIBE", ref({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "a", qos: 1 }] })],
      ["UNSUBSCRIBE", ref({ cmd: "unsubscribe", messageId: 1, unsubscriptions: ["a"] })],
      ["PINGREQ", ref({ cmd: "pingreq" })],
      ["DISCONNECT", ref({ cmd: "disconnect" })],
      ["type 0", "\x00\x02\x00\x01"],
      ["type 15", "\xf0\x02\x00\x01"],
    ];
    for (const [name, p] of samples) {
      const s = splitPacket(p);
      throwsProtocol(() => decode(s.first, s.body), name);
      for (let f = 0; f < 16; f++) throwsProtocol(() => decode(s.first & 0xf0 | f, s.body), `${name} flags ${f}`);
    }
    // Also with bodies shaped like those of legitimate packets
    for (const type of [0, 1, 8, 10, 12, 14, 15]) {
      for (const body of ["", "\x00", "\x00\x01", "\x00\x01\x00"]) throwsProtocol(() => decode(type << 4, body), `type ${type}`);
    }
  });

  test("wrong remaining lengths for fixed-size packets", () => {
    const cases: [string, number, number[]][] = [
      ["CONNACK", 0x20, [0, 1, 3, 4, 100]],
      ["PUBACK", 0x40, [0, 1, 3, 4]],
      ["PUBREC", 0x50, [0, 1, 3, 4]],
      ["PUBREL", 0x62, [0, 1, 3, 4]],
      ["PUBCOMP", 0x70, [0, 1, 3, 4]],
      ["UNSUBACK", 0xb0, [0, 1, 3, 4]],
      ["PINGRESP", 0xd0, [1, 2, 5]],
      ["SUBACK (no return code)", 0x90, [0, 1, 2]],
    ];
    for (const [name, first, lengths] of cases) {
      for (const n of lengths) throwsProtocol(() => decode(first, "\x00\x01".padEnd(n, "\x00").slice(0, n)), `${name} length ${n}`);
    }
  });

  test("CONNACK return codes 6..255 are not defined", () => {
    for (let rc = 6; rc < 256; rc++) throwsProtocol(() => decode(0x20, bytes(0, rc)), `rc ${rc}`);
    throwsProtocol(() => decode(0x20, bytes(1, 6)), "session present, rc 6");
  });

  test("[MQTT-2.2.2-1] CONNACK acknowledge flags other than bit 0 are reserved", () => {
    for (let ack = 2; ack < 256; ack++) throwsProtocol(() => decode(0x20, bytes(ack, 0)), `ack flags ${ack}`);
  });

  test("[MQTT-3.3.1-4] PUBLISH with QoS 3 (both QoS bits set)", () => {
    for (const first of [0x36, 0x37, 0x3e, 0x3f]) {
      throwsProtocol(() => decode(first, "\x00\x01t\x00\x01m"), hex(bytes(first)));
    }
  });

  test("[MQTT-2.3.1-1] PUBLISH QoS 1 and 2 with packet id 0", () => {
    for (const first of [0x32, 0x34, 0x3a, 0x3d]) throwsProtocol(() => decode(first, "\x00\x01t\x00\x00m"), hex(bytes(first)));
  });

  test("packet id 0 in PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK", () => {
    for (const [first, body] of [[0x40, "\0\0"], [0x50, "\0\0"], [0x62, "\0\0"], [0x70, "\0\0"], [0x90, "\0\0\0"], [0xb0, "\0\0"]] as [number, string][]) {
      throwsProtocol(() => decode(first, body), hex(bytes(first)));
    }
  });

  test("PUBLISH shorter than its topic length or missing (part of) its packet id", () => {
    const cases: [number, string][] = [
      [0x30, ""], [0x30, "\x00"], [0x30, "\x00\x05ab"], [0x32, "\x00\x01t"], [0x32, "\x00\x01t\x01"], [0x34, "\x00\x03ab"],
      [0x30, "\xff\xff" + "a".repeat(100)],
    ];
    for (const [first, body] of cases) throwsProtocol(() => decode(first, body), hex(bytes(first) + body));
  });

  const badTopics: [string, string][] = [
    ["[MQTT-3.3.2-2] '+' level", "a/+"],
    ["[MQTT-3.3.2-2] '#' alone", "#"],
    ["[MQTT-3.3.2-2] '#' last level", "a/#"],
    ["[MQTT-3.3.2-2] '+' alone", "+"],
    ["[MQTT-3.3.2-2] '+' inside a level", "a+b"],
    ["[MQTT-4.7.3-1] empty", ""],
    ["[MQTT-1.5.3-1] truncated UTF-8", "a\xc3"],
    ["[MQTT-1.5.3-1] surrogate ED A0 80", "\xed\xa0\x80"],
    ["[MQTT-1.5.3-1] overlong C0 AF", "\xc0\xaf"],
    ["[MQTT-1.5.3-1] > U+10FFFF", "\xf4\x90\x80\x80"],
    ["[MQTT-1.5.3-1] stray continuation", "a\x80"],
    ["[MQTT-1.5.3-2] U+0000", "a\x00b"],
    ["[MQTT-1.5.3-2] U+0000 alone", "\x00"],
  ];
  for (const [name, topicBytes] of badTopics) {
    test(`PUBLISH topic: ${name}`, () => {
      for (const qos of [0, 1, 2]) {
        const body = String.fromCharCode(0, topicBytes.length) + topicBytes + (qos ? "\x00\x07" : "") + "payload";
        throwsProtocol(() => decode(0x30 | qos << 1, body), `qos ${qos}`);
      }
    });
  }

  test("SUBACK return codes 3..127 are not defined", () => {
    for (let c = 3; c < 128; c++) {
      throwsProtocol(() => decode(0x90, bytes(0, 1, c)), `code ${c}`);
      throwsProtocol(() => decode(0x90, bytes(0, 1, 0, 1, c, 2)), `code ${c} among valid ones`);
    }
  });

  test("SUBACK codes 0x81..0xFF are passed on as refusals (ejabberd sends 0x8F), not rejected", () => {
    for (let c = 0x80; c < 256; c++) {
      assert.deepEqual(decode(0x90, bytes(0, 1, 0, c, 2)), { type: SUBACK, id: 1, granted: [0, c, 2] }, `code ${c}`);
    }
  });

  test("oversize (truncated) packets of any type but PUBLISH are a protocol error", () => {
    for (const [first, body] of [[0x20, "\x00\x00"], [0x40, "\x00\x01"], [0x50, "\x00\x01"], [0x62, "\x00\x01"],
      [0x70, "\x00\x01"], [0x90, "\x00\x01" + "\x01".repeat(30)], [0xb0, "\x00\x01"], [0xd0, ""]] as [number, string][]) {
      throwsProtocol(() => decode(first, body, true), hex(bytes(first)));
    }
  });
});

describe("decode: oversize mode (body is only the first bytes of a PUBLISH too large to keep)", () => {
  for (const qos of [0, 1, 2] as QoS[]) {
    test(`QoS ${qos}: every truncation gives the topic and id when they are present, an empty message`, () => {
      const topic = "sensors/é/temp", tb = utf8(topic), id = 0x1234;
      const r: RefPacket = { cmd: "publish", topic, payload: buf(allBytes()), qos, dup: qos > 0, retain: true };
      if (qos) r.messageId = id;
      const { first, body } = splitPacket(ref(r));
      const topicEnd = 2 + tb.length, idEnd = topicEnd + (qos ? 2 : 0);
      for (let k = 2; k <= body.length; k++) {
        const d = decode(first, body.substr(0, k), true);
        assert.equal(d.type, PUBLISH);
        assert.equal(d.message, "", `k ${k}`);
        assert.equal(d.qos, qos);
        assert.equal(d.retain, true);
        assert.equal(d.dup, qos > 0);
        assert.equal(d.topic, k >= topicEnd ? topic : undefined, `topic at k ${k}`);
        assert.equal(d.id, qos && k >= idEnd ? id : 0, `id at k ${k}`);
      }
    });
  }

  test("oversize: a complete but invalid topic or packet id 0 is still a protocol error", () => {
    throwsProtocol(() => decode(0x32, "\x00\x03a/#\x00\x05" + "x".repeat(50), true), "wildcard");
    throwsProtocol(() => decode(0x32, "\x00\x03a\x00b\x00\x05" + "x".repeat(50), true), "U+0000");
    throwsProtocol(() => decode(0x32, "\x00\x00\x00\x05" + "x".repeat(50), true), "empty topic");
    throwsProtocol(() => decode(0x34, "\x00\x01a\x00\x00" + "x".repeat(50), true), "id 0");
    throwsProtocol(() => decode(0x36, "\x00\x01a\x00\x01" + "x".repeat(50), true), "QoS 3");
  });
});

test("[MQTT-4.7.3-1] [MQTT-1.5.3-2] the remembered last topic never lets a bad topic through", () => {
  const pub = (topic: string) => String.fromCharCode(0, topic.length) + topic + "m";
  // A valid topic, twice (the second time from the cache), then bad ones right after it.
  assert.equal(decode(0x30, pub("a/b")).topic, "a/b");
  assert.equal(decode(0x30, pub("a/b")).topic, "a/b");
  for (const bad of ["", "\x00", "a/+", "a/#", "\xc0\x80"]) {
    assert.throws(() => decode(0x30, pub(bad)), (e: any) => e.code === "protocol", JSON.stringify(bad));
    assert.equal(decode(0x30, pub("a/b")).topic, "a/b", "and the valid one still decodes");
  }
  assert.equal(decode(0x30, pub("c")).topic, "c");
});
