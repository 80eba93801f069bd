// Property-based fuzzing in `npm test` (issue 4, "Fuzzing"): a few thousand inputs per target, seeded.
// The seed is fixed (so a run is reproducible); FUZZ_SEED=n picks another, FUZZ_RUNS=n scales the run
// count (1 = the defaults). A failure names its seed and shows the input fast-check shrank it to; add
// that input to regressions.test.ts. The long run is `npm run fuzz` (src/tools/fuzz.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import mqttPacket from "mqtt-packet";
import { Framer } from "../../src/protocol/framer.js";
import { decode } from "../../src/protocol/codec.js";
import * as H from "./harness.js";
import { RECORDED } from "./corpus.js";

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 4242;
const SCALE = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : 1;

function fuzz<T>(arb: fc.Arbitrary<T>, run: (inp: T, st: H.FuzzStats) => string | undefined, numRuns: number): H.FuzzStats {
  const st = H.newStats();
  try {
    fc.assert(fc.property(arb, (inp) => {
      const one = H.newStats(), f = run(inp, one);
      if (f) throw new Error(f);
      H.addStats(st, one); // the figures, from passing inputs only (not from shrinking)
    }), { seed: SEED, numRuns: Math.round(numRuns * SCALE) });
  } catch (e) {
    // fast-check's report holds the shrunk counterexample; H.show gives it ASCII-safe for a regression test.
    const m = /Counterexample: \[(.*)\]\n/s.exec((e as Error).message);
    let shown = "";
    if (m) { try { shown = "\ninput (for regressions.test.ts): " + H.show(eval("(" + m[1] + ")")); } catch { /* the report is enough */ } }
    const report = (e as Error).message.replace(/path: "([^"]{0,60})[^"]*"/, 'path: "$1..."');
    throw new Error(`fuzz failure with FUZZ_SEED=${SEED} (rerun: FUZZ_SEED=${SEED} node --test .build/host/test/fuzz/)${shown}\n${report}`);
  }
  return st;
}

test(`fuzz target 1: Framer + decode take any bytes in any split (seed ${SEED})`, () => {
  const st = fuzz(H.framerInputArb, H.runFramer, 10000);
  assert.equal(st.uncaught + st.hangs + st.violations, 0);
  assert.ok(st.maxBufferRatio <= 1, "inbound buffer never above max_packet");
  // The generators reach the interesting cases.
  assert.ok(st.packets > 5000 && st.oversize > 200 && st.protocolErrors > 500, JSON.stringify(st));
});

test(`fuzz target 2: the client on a fake platform takes any broker bytes, events and timers (seed ${SEED})`, () => {
  const st = fuzz(H.clientInputArb, H.runClient, 4000);
  assert.equal(st.uncaught + st.hangs + st.violations, 0);
  assert.ok(st.maxBufferRatio <= 1);
  const ev = st.events;
  for (const k of ["connected", "disconnected", "publish", "subscribed", "error:protocol", "error:timeout", "error:oversize", "error:queue_full", "drain"]) {
    assert.ok(ev[k] > 0, `no "${k}" in ${JSON.stringify(ev)}`);
  }
});

test("recorded Mosquitto sessions: Framer + decode read them packet for packet like mqtt-packet", () => {
  assert.ok(RECORDED.length >= 3);
  for (const bytes of RECORDED) {
    const ref: string[] = [];
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on("packet", (p) => ref.push(p.cmd));
    parser.on("error", (e) => assert.fail(e));
    parser.parse(Buffer.from(bytes, "latin1"));
    const got: string[] = [];
    const names = ["", "connect", "connack", "publish", "puback", "pubrec", "pubrel", "pubcomp", "", "suback", "", "unsuback", "", "pingresp"];
    const fr = new Framer(4096, { _packet: (first: number, body: string, oversize: boolean) => { got.push(names[decode(first, body, oversize).type]); } });
    for (let i = 0; i < bytes.length; i += 7) fr.push(bytes.slice(i, i + 7));
    assert.deepEqual(got, ref);
  }
});

test("the spec-layout encoder of the harness agrees with mqtt-packet", () => {
  fc.assert(fc.property(H.brokerPacketArb, (p) => {
    const bytes = H.encodeBroker(p), parsed: any[] = [];
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on("packet", (x) => parsed.push(x));
    parser.on("error", (e) => { throw e; });
    parser.parse(Buffer.from(bytes, "latin1"));
    assert.equal(parsed.length, 1);
    const x = parsed[0];
    assert.equal(x.cmd, ["", "", "connack", "publish", "puback", "pubrec", "pubrel", "pubcomp", "", "suback", "", "unsuback", "", "pingresp"][p.type]);
    if (p.type == 3) {
      assert.equal(x.topic, p.topic);
      assert.equal(x.payload.toString("latin1"), p.payload);
      assert.equal(x.qos, p.qos);
      if (p.qos) assert.equal(x.messageId, p.id);
    } else if (p.type == 2) {
      assert.equal(x.returnCode, p.rc);
      assert.equal(x.sessionPresent, !!p.sp);
    } else if (p.type != 13) {
      assert.equal(x.messageId, p.id);
      if (p.type == 9) assert.deepEqual(x.granted, p.granted);
    }
  }), { seed: SEED, numRuns: 500 });
});
