// The stream parser of src/protocol/framer.ts: packets split anywhere across
// chunks, many packets per chunk, linear work, the 4-byte limit of the
// remaining length, and oversize packets dropped while they stream in.
// Packets come from mqtt-packet's reference encoder; the expected
// (first byte, body) pairs come from an independent fixed-header splitter.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { Framer } from "../../src/protocol/framer.js";
import { decode } from "../../src/protocol/codec.js";
import { ref, allBytes, splitPacket, hex, throwsProtocol, type RefPacket } from "./helpers.js";

type Out = [first: number, body: string, oversize: boolean];

const buf = (s: string) => Buffer.from(s, "latin1");

function collector(max: number) {
  const out: Out[] = [];
  const fr = new Framer(max, { _packet: (first: number, body: string, oversize: boolean) => { out.push([first, body, oversize]); } });
  return { fr, out };
}

/** The sink calls expected for complete packets no larger than max. */
const expectedOf = (packets: string[]): Out[] => packets.map((p) => {
  const s = splitPacket(p);
  return [s.first, s.body, false];
});

/** Compare outputs, with hex dumps of bodies so failures are readable. */
function sameOut(actual: Out[], expected: Out[], what: string) {
  const show = (o: Out[]) => o.map(([f, b, ov]) => `${f.toString(16)}:${hex(b)}:${ov}`);
  assert.deepEqual(show(actual), show(expected), what);
}

/**
 * Record every value stored into the framer's carried-over buffers, to count
 * the work of the `_pending + chunk` join and to see the largest buffer at any
 * moment, not just between pushes.
 */
function instrument(fr: Framer) {
  const stats = { pendingStored: 0, pendingMax: 0, headMax: 0 };
  let pending = fr._pending, head = fr._head;
  Object.defineProperty(fr, "_pending", {
    configurable: true, enumerable: true,
    get: () => pending,
    set: (v: string) => { pending = v; stats.pendingStored += v.length; stats.pendingMax = Math.max(stats.pendingMax, v.length); },
  });
  Object.defineProperty(fr, "_head", {
    configurable: true, enumerable: true,
    get: () => head,
    set: (v: string) => { head = v; stats.headMax = Math.max(stats.headMax, v.length); },
  });
  return stats;
}

// A realistic inbound stream: every packet type a broker sends, zero-length,
// 1-byte and 2-byte remaining lengths, binary payloads.
const STREAM_PACKETS = [
  ref({ cmd: "connack", sessionPresent: true, returnCode: 0 }),
  ref({ cmd: "suback", messageId: 1, granted: [0, 1, 2, 0x80] }),
  ref({ cmd: "publish", topic: "a/b", payload: buf("hello"), qos: 0, dup: false, retain: false }),
  ref({ cmd: "publish", topic: "é/日本", payload: buf(allBytes()), qos: 1, dup: false, retain: true, messageId: 2 }),
  ref({ cmd: "pubrel", messageId: 3 }),
  ref({ cmd: "pingresp" }),
  ref({ cmd: "publish", topic: "q2", payload: buf(""), qos: 2, dup: true, retain: false, messageId: 65535 }),
  ref({ cmd: "unsuback", messageId: 4 } as RefPacket),
  ref({ cmd: "puback", messageId: 5 }),
  ref({ cmd: "pubrec", messageId: 6 }),
  ref({ cmd: "pubcomp", messageId: 0x1234 }),
];
const STREAM = STREAM_PACKETS.join("");
const EXPECTED = expectedOf(STREAM_PACKETS);

describe("framer: packets split across chunks", () => {
  test("(sanity) the stream holds 1-byte and 2-byte remaining lengths and a zero-length body", () => {
    const lens = STREAM_PACKETS.map((p) => splitPacket(p).lengthBytes.length);
    assert.ok(lens.includes(1) && lens.includes(2));
    assert.ok(EXPECTED.some(([, body]) => body === ""));
  });

  test("all packets in one chunk", () => {
    const { fr, out } = collector(4096);
    fr.push(STREAM);
    sameOut(out, EXPECTED, "one chunk");
    assert.equal(fr._pending, "");
  });

  test(`split in 2 pieces at every possible point (${STREAM.length + 1} splits)`, () => {
    for (let k = 0; k <= STREAM.length; k++) {
      const { fr, out } = collector(4096);
      fr.push(STREAM.slice(0, k));
      fr.push(STREAM.slice(k));
      sameOut(out, EXPECTED, `split at ${k}`);
      assert.equal(fr._pending, "", `split at ${k}`);
    }
  });

  test("split in 3 pieces at every pair of points of a smaller stream", () => {
    const packets = STREAM_PACKETS.filter((p) => p.length < 40);
    const stream = packets.join(""), expected = expectedOf(packets);
    let runs = 0;
    for (let a = 0; a <= stream.length; a++) for (let b = a; b <= stream.length; b++) {
      const { fr, out } = collector(4096);
      fr.push(stream.slice(0, a));
      fr.push(stream.slice(a, b));
      fr.push(stream.slice(b));
      sameOut(out, expected, `splits at ${a}, ${b}`);
      assert.equal(fr._pending, "");
      runs++;
    }
    assert.ok(runs > 1000);
  });

  test("every byte in its own chunk; the partial packet is carried in _pending meanwhile", () => {
    const { fr, out } = collector(4096);
    let done = 0, start = 0;
    for (let i = 0; i < STREAM.length; i++) {
      fr.push(STREAM[i]);
      if (out.length > done) { done = out.length; start = i + 1; }
      assert.equal(fr._pending, STREAM.slice(start, i + 1), `after byte ${i}`);
    }
    sameOut(out, EXPECTED, "byte by byte");
  });

  test("every packet on its own, byte by byte, and empty chunks in between", () => {
    for (const p of STREAM_PACKETS) {
      const { fr, out } = collector(4096);
      for (const ch of p) { fr.push(""); fr.push(ch); }
      sameOut(out, expectedOf([p]), hex(p.slice(0, 4)));
    }
  });

  test("chunks of every size from 1 to 64 bytes", () => {
    for (let size = 1; size <= 64; size++) {
      const { fr, out } = collector(4096);
      for (let i = 0; i < STREAM.length; i += size) fr.push(STREAM.slice(i, i + size));
      sameOut(out, EXPECTED, `chunk size ${size}`);
    }
  });

  test("the delivered packets decode to what was encoded", () => {
    const { fr, out } = collector(4096);
    fr.push(STREAM);
    const decoded = out.map(([first, body]) => decode(first, body));
    assert.deepEqual(decoded.map((d) => d.type), [2, 9, 3, 3, 6, 13, 3, 11, 4, 5, 7]);
    assert.equal(decoded[3].topic, "é/日本");
    assert.ok(decoded[3].message === allBytes());
    assert.deepEqual(decoded[1].granted, [0, 1, 2, 0x80]);
  });

  test("a packet with a 4-byte remaining length (2097152) arrives whole in 64 KB chunks", () => {
    const payload = "\x5a".repeat(2097152 - 2 - 3);
    const p = ref({ cmd: "publish", topic: "big", payload: buf(payload), qos: 0, dup: false, retain: false });
    assert.equal(splitPacket(p).lengthBytes.length, 4);
    const { fr, out } = collector(3 * 1024 * 1024);
    for (let i = 0; i < p.length; i += 65536) fr.push(p.slice(i, i + 65536));
    assert.equal(out.length, 1);
    assert.equal(out[0][0], 0x30);
    assert.equal(out[0][2], false);
    assert.ok(out[0][1] === splitPacket(p).body);
  });
});

describe("framer: many packets per chunk, linear work", () => {
  const publishes = (count: number) => {
    const list: string[] = [];
    for (let i = 0; i < count; i++) {
      list.push(ref({ cmd: "publish", topic: "t/" + i, payload: buf("message " + i + " " + "x".repeat(i % 50)),
        qos: (i % 3) as 0 | 1 | 2, dup: false, retain: false, ...(i % 3 ? { messageId: 1 + i } : {}) }));
    }
    return list;
  };

  test("1000 PUBLISH packets in one chunk: all delivered in order, nothing carried over", () => {
    const list = publishes(1000);
    const { fr, out } = collector(1024);
    const stats = instrument(fr);
    fr.push(list.join(""));
    sameOut(out, expectedOf(list), "1000 in one chunk");
    assert.equal(fr._pending, "");
    assert.equal(stats.pendingStored, 0, "no byte was copied into _pending");
    out.forEach(([first, body], i) => {
      const d = decode(first, body);
      assert.equal(d.topic, "t/" + i);
    });
  });

  test("work of the buffer join grows linearly: 2000 packets cost 2x 1000 packets (counted, not timed)", () => {
    // Cost of a push = bytes joined (carried _pending + chunk) + bytes stored back into _pending.
    const cost = (count: number, chunk: number) => {
      const stream = publishes(count).join("");
      const { fr, out } = collector(1024);
      const stats = instrument(fr);
      let joined = 0;
      for (let i = 0; i < stream.length; i += chunk) {
        const c = stream.slice(i, i + chunk);
        joined += fr._pending.length + c.length;
        fr.push(c);
      }
      assert.equal(out.length, count);
      assert.equal(fr._pending, "");
      return { total: joined + stats.pendingStored, bytes: stream.length, pendingMax: stats.pendingMax, stored: stats.pendingStored };
    };
    for (const chunk of [536, 1460, 1 << 20]) {
      const c1 = cost(1000, chunk), c2 = cost(2000, chunk);
      const ratio = c2.total / c1.total, bytesRatio = c2.bytes / c1.bytes;
      assert.ok(ratio < bytesRatio * 1.1, `chunk ${chunk}: cost ratio ${ratio.toFixed(3)} vs size ratio ${bytesRatio.toFixed(3)}`);
      assert.ok(c2.total < 3 * c2.bytes, `chunk ${chunk}: cost ${c2.total} for ${c2.bytes} bytes`);
      assert.ok(c2.pendingMax < 200, "only the one incomplete packet is carried");
      if (chunk < 2000) assert.ok(c2.stored > 0, "(sanity) the instrumentation sees what is carried over");
    }
  });
});

describe("framer: remaining length limits", () => {
  test("a remaining length longer than 4 bytes throws a protocol error (one chunk)", () => {
    for (const len of ["\x80\x80\x80\x80\x01", "\xff\xff\xff\xff\x7f", "\x80\x80\x80\x80\x80\x01"]) {
      const { fr, out } = collector(1024);
      throwsProtocol(() => fr.push("\x30" + len + "\x00\x01t"), hex(len));
      assert.equal(out.length, 0);
    }
  });

  test("a remaining length longer than 4 bytes throws when fed byte by byte, after valid packets", () => {
    const { fr, out } = collector(1024);
    const good = ref({ cmd: "puback", messageId: 1 });
    const bad = "\x30\x80\x80\x80\x80\x01\x00";
    let threw = false;
    for (const ch of good + bad) {
      try { fr.push(ch); } catch (e) { throwsProtocol(() => { throw e; }); threw = true; break; }
    }
    assert.ok(threw);
    assert.equal(out.length, 1, "the packet before it was delivered");
  });

  test("(spec 2.2.3) 4 remaining-length bytes all with the continuation bit are rejected without waiting for a 5th byte", () => {
    const { fr } = collector(1024);
    throwsProtocol(() => fr.push("\x30\xff\xff\xff\xff"));
  });

  test("the largest remaining length (ff ff ff 7f) is accepted and dropped as oversize without buffering", () => {
    const { fr, out } = collector(1024);
    const stats = instrument(fr);
    fr.push("\x30\xff\xff\xff\x7f");
    const chunk = "\x00\x03abc" + "z".repeat(4091);
    for (let i = 0; i < 25; i++) fr.push(chunk);
    assert.equal(out.length, 0, "nothing delivered yet: 268 MB still to come");
    assert.equal(fr._pending, "");
    assert.ok(stats.headMax <= 1024 && stats.pendingMax <= 1024);
    assert.equal(fr._head.length, 1024);
  });
});

describe("framer: oversize packets are dropped while they stream in", () => {
  const MAX = 64;
  const A = ref({ cmd: "puback", messageId: 1 });
  const BIG1 = ref({ cmd: "publish", topic: "big/topic", payload: buf(allBytes(4)), qos: 1, dup: false, retain: false, messageId: 7 });
  const C = ref({ cmd: "publish", topic: "small", payload: buf("ok"), qos: 0, dup: false, retain: false });
  const BIG2 = ref({ cmd: "publish", topic: "t2", payload: buf("y".repeat(500)), qos: 0, dup: false, retain: true });
  const E = ref({ cmd: "pingresp" });
  const D = ref({ cmd: "publish", topic: "after", payload: buf("intact"), qos: 2, dup: false, retain: false, messageId: 9 });
  const stream = [A, BIG1, C, BIG2, E, D].join("");
  const big = (p: string): Out => { const s = splitPacket(p); return [s.first, s.body.substr(0, MAX), true]; };
  const expected: Out[] = [...expectedOf([A]), big(BIG1), ...expectedOf([C]), big(BIG2), ...expectedOf([E, D])];

  for (const size of [1, 2, 3, 5, 7, 13, 64, 100, 1000, stream.length]) {
    test(`chunks of ${size} bytes: buffers never exceed max (${MAX}), oversize flagged with the first bytes, the next packets intact`, () => {
      const { fr, out } = collector(MAX);
      const stats = instrument(fr);
      for (let i = 0; i < stream.length; i += size) {
        fr.push(stream.slice(i, i + size));
        assert.ok(fr._pending.length <= MAX && fr._head.length <= MAX, `after byte ${i + size}`);
      }
      assert.ok(stats.pendingMax <= MAX, `_pending reached ${stats.pendingMax}`);
      assert.ok(stats.headMax <= MAX, `_head reached ${stats.headMax}`);
      assert.equal(stats.headMax, MAX, "(sanity) the head of an oversize packet was filled up to max");
      sameOut(out, expected, `chunk size ${size}`);
      assert.equal(fr._pending, "");
    });
  }

  test("every 2-piece split of the stream with oversize packets", () => {
    for (let k = 0; k <= stream.length; k++) {
      const { fr, out } = collector(MAX);
      fr.push(stream.slice(0, k));
      fr.push(stream.slice(k));
      sameOut(out, expected, `split at ${k}`);
    }
  });

  test("the kept head of an oversize PUBLISH decodes to its topic and packet id, empty message", () => {
    const { fr, out } = collector(MAX);
    fr.push(stream);
    const d = decode(out[1][0], out[1][1], out[1][2]);
    assert.equal(d.topic, "big/topic");
    assert.equal(d.id, 7);
    assert.equal(d.qos, 1);
    assert.equal(d.message, "");
  });

  test("max is the whole packet size: a packet of exactly max bytes is kept, one byte more is oversize", () => {
    const sized = (total: number) => ref({ cmd: "publish", topic: "t", payload: buf("p".repeat(total - 2 - 3)), qos: 0, dup: false, retain: false });
    const exact = sized(MAX), over = sized(MAX + 1);
    assert.equal(exact.length, MAX);
    assert.equal(over.length, MAX + 1);
    const { fr, out } = collector(MAX);
    fr.push(exact + over + exact);
    const b = splitPacket(over).body;
    sameOut(out, [expectedOf([exact])[0], [0x30, b, true], expectedOf([exact])[0]], "boundary");
  });
});
