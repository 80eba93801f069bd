// `npm run fuzz`: the long fuzz run of issue 4 ("Fuzzing"): at least 1,000,000 inputs across the two
// targets of test/fuzz/harness.ts (Framer + decode; the Client on a fake platform), each in its own
// worker thread, watched by this thread for hangs. Prints progress and the final figures; exits 1 when
// any input found an uncaught exception, a hang or another property violation (each shrunk and printed).
//
//   node .build/host/src/tools/fuzz.js [--inputs N] [--seed S]    (FUZZ_INPUTS / FUZZ_SEED work too)
//   node .build/host/src/tools/fuzz.js --record                   re-record test/fuzz/corpus.ts from Mosquitto
//
// Split: 70 % of the inputs to target 1, 30 % to target 2 (about 2.5 times as slow per input), so
// both workers finish at about the same time. Every input is reproducible from the seed: batch k of a
// target runs fast-check with seed S + k.
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import fc from "fast-check";
import mqttPacket from "mqtt-packet";
import * as H from "../../test/fuzz/harness.js";

const BATCH = 5000;
const HANG_S = 30; // no finished input for this long = a hang
const TARGETS = {
  framer: { title: "framer+decode", arb: H.framerInputArb as fc.Arbitrary<unknown>, run: H.runFramer as (i: unknown, s: H.FuzzStats) => string | undefined },
  client: { title: "client", arb: H.clientInputArb as fc.Arbitrary<unknown>, run: H.runClient as (i: unknown, s: H.FuzzStats) => string | undefined },
};
type TargetName = keyof typeof TARGETS;

interface WorkerJob { target: TargetName; seed: number; inputs: number; progress: SharedArrayBuffer }
interface Report { stats: H.FuzzStats; done: boolean; failing: { seed: number; input: string; failure: string }[]; shrunk?: string }

// ---------------------------------------------------------------------------------------------
// Worker: run batches, count progress in shared memory, post cumulative figures after each batch.

function work(job: WorkerJob) {
  const t = TARGETS[job.target], total = H.newStats(), done = new Int32Array(job.progress);
  const failing: Report["failing"] = [];
  for (let k = 0, left = job.inputs; left > 0; k++, left -= BATCH) {
    const st = H.newStats(), seed = job.seed + k;
    fc.check(fc.property(t.arb, (inp) => {
      const f = t.run(inp, st);
      if (f && failing.length < 3) failing.push({ seed: seed, input: H.show(inp), failure: f });
      Atomics.add(done, 0, 1);
      return true;
    }), { seed: seed, numRuns: Math.min(BATCH, left) });
    H.addStats(total, st);
    parentPort!.postMessage({ stats: total, done: false, failing: failing } as Report);
  }
  let shrunk: string | undefined;
  if (failing.length) {
    // Replay the first failing batch with a failing property: fast-check finds it again and shrinks it.
    const r = fc.check(fc.property(t.arb, (inp) => !t.run(inp, H.newStats())), { seed: failing[0].seed, numRuns: BATCH });
    if (r.failed && r.counterexample) shrunk = `${t.run(r.counterexample[0], H.newStats())}\n    input: ${H.show(r.counterexample[0])}`;
  }
  parentPort!.postMessage({ stats: total, done: true, failing: failing, shrunk: shrunk } as Report);
}

// ---------------------------------------------------------------------------------------------
// Main: two workers, progress every 10 s, a watchdog, the final figures.

const fmt = (n: number) => n.toLocaleString("en-US");

async function main() {
  const args = process.argv.slice(2);
  const opt = (name: string, env: string, dflt: number) => {
    const i = args.indexOf(name);
    const v = i >= 0 ? args[i + 1] : process.env[env];
    const n = v === undefined ? dflt : Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer`);
    return n;
  };
  if (args.includes("--record")) return record();
  const inputs = opt("--inputs", "FUZZ_INPUTS", 1_000_000), seed = opt("--seed", "FUZZ_SEED", 1);
  const share: Record<TargetName, number> = { framer: Math.ceil(inputs * 0.7), client: inputs - Math.ceil(inputs * 0.7) };
  console.log(`fuzz: ${fmt(inputs)} inputs, seed ${seed} (framer+decode ${fmt(share.framer)}, client ${fmt(share.client)}), hang watchdog ${HANG_S} s`);
  const t0 = Date.now();
  const runs = (Object.keys(TARGETS) as TargetName[]).map((target) => {
    const progress = new SharedArrayBuffer(4), done = new Int32Array(progress);
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: { target, seed, inputs: share[target], progress } as WorkerJob });
    const run = { target, w, done, last: 0, lastChange: Date.now(), report: undefined as Report | undefined, hang: "", finished: false, end: 0 };
    const ended = new Promise<void>((resolve) => {
      w.on("message", (r: Report) => { run.report = r; if (r.done) { run.finished = true; run.end = Date.now(); } });
      w.on("error", (e) => { run.hang = run.hang || `worker crashed: ${e.stack || e}`; resolve(); });
      w.on("exit", () => resolve());
    });
    return { run, ended };
  });
  let lastPrint = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    for (const { run } of runs) {
      if (run.finished) continue;
      const n = Atomics.load(run.done, 0);
      if (n != run.last) { run.last = n; run.lastChange = now; } else if (now - run.lastChange > HANG_S * 1000 && !run.hang) {
        run.hang = `no input finished for ${HANG_S} s after input ${n} (seed ${seed + Math.floor(n / BATCH)}, run ${n % BATCH} of that batch)`;
        void run.w.terminate();
      }
    }
    if (now - lastPrint >= 10000) {
      lastPrint = now;
      const s = (now - t0) / 1000;
      console.log(`[${s.toFixed(0).padStart(4)} s] ` + runs.map(({ run }) => {
        const n = Atomics.load(run.done, 0), t = run.finished ? (run.end - t0) / 1000 : s;
        return `${TARGETS[run.target].title} ${fmt(n)}/${fmt(share[run.target])} ` +
          (run.finished ? `(done in ${t.toFixed(0)} s)` : `(${fmt(Math.round(n / t))}/s)`);
      }).join("   "));
    }
  }, 250);
  await Promise.all(runs.map((r) => r.ended));
  clearInterval(timer);
  const secs = (Date.now() - t0) / 1000;

  const all = H.newStats();
  const rows: string[][] = [["target", "inputs", "bytes", "packets", "oversize", "protocol errors", "uncaught", "hangs", "violations", "time"]];
  let bad = false;
  for (const { run } of runs) {
    const st = run.report ? run.report.stats : H.newStats();
    if (!run.report) st.inputs = Atomics.load(run.done, 0); // a worker that hung before its first batch ended
    if (run.hang) st.hangs++;
    H.addStats(all, st);
    rows.push([TARGETS[run.target].title, fmt(st.inputs), fmt(st.bytes), fmt(st.packets), fmt(st.oversize), fmt(st.protocolErrors),
      fmt(st.uncaught), fmt(st.hangs), fmt(st.violations), `${(((run.end || Date.now()) - t0) / 1000).toFixed(1)} s`]);
    if (st.uncaught || st.hangs || st.violations || !run.finished) bad = true;
  }
  rows.push(["total", fmt(all.inputs), fmt(all.bytes), fmt(all.packets), fmt(all.oversize), fmt(all.protocolErrors),
    fmt(all.uncaught), fmt(all.hangs), fmt(all.violations), `${secs.toFixed(1)} s`]);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  console.log("");
  for (const r of rows) console.log(r.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  "));
  console.log("");
  console.log(`inputs: ${fmt(all.inputs)} in ${secs.toFixed(1)} s (${fmt(Math.round(all.inputs / secs))}/s)`);
  console.log(`packets decoded: ${fmt(all.packets)} (oversize ${fmt(all.oversize)}); protocol errors: ${fmt(all.protocolErrors)}`);
  console.log(`uncaught exceptions: ${all.uncaught}   hangs: ${all.hangs}   other property violations: ${all.violations}`);
  console.log(`max inbound buffer: ${all.maxBufferRatio <= 1 ? "never above max_packet" : "ABOVE max_packet"}; largest seen ` +
    `${fmt(all.maxBuffer)} bytes with max_packet ${fmt(all.maxBufferLimit)} (ratio ${all.maxBufferRatio.toFixed(3)}, the kept head of an oversize packet); ` +
    `incomplete packet (_pending) ${fmt(all.maxPending)} bytes with max_packet ${fmt(all.maxPendingLimit)} (ratio ${all.maxPendingRatio.toFixed(3)})`);
  const cl = runs.find((r) => r.run.target == "client")!.run.report;
  if (cl) {
    const ev = cl.stats.events;
    console.log(`client: ${fmt(cl.stats.reconnects)} reconnects, ${fmt(cl.stats.writes)} packets written (all parsed by mqtt-packet)`);
    console.log("client events: " + Object.keys(ev).sort().map((k) => `${k} ${fmt(ev[k])}`).join(", "));
  }
  for (const { run } of runs) {
    if (run.hang) console.log(`\n${TARGETS[run.target].title}: HANG: ${run.hang}`);
    const r = run.report;
    if (!r || !r.failing.length) continue;
    console.log(`\n${TARGETS[run.target].title}: failures (first ${r.failing.length}):`);
    for (const f of r.failing) console.log(`  seed ${f.seed}: ${f.failure}\n    input: ${f.input.slice(0, 4000)}`);
    if (r.shrunk) console.log(`  shrunk: ${r.shrunk}`);
  }
  console.log(bad ? "\nFUZZ FAILED" : "\nfuzz: all properties held");
  process.exitCode = bad ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// --record: real broker->client byte streams from Mosquitto, the seeds of the mutation fuzzer.

async function record() {
  const { startMosquitto } = await import("../../test/support/mosquitto.js");
  const mosq = await startMosquitto({ persistence: false });
  const sessions: { name: string; bytes: string }[] = [];
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  type Raw = { sock: net.Socket; bytes: string[]; packets: any[]; send: (p: any) => void; close: (hard?: boolean) => Promise<void> };
  // A raw client that records every inbound byte and answers like a QoS-aware client unless told not to.
  const raw = (clientId: string, clean: boolean, answer = true): Promise<Raw> => new Promise((resolve, reject) => {
    const sock = net.connect(mosq.port, "127.0.0.1");
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const r: Raw = {
      sock, bytes: [], packets: [],
      send: (p) => sock.write(mqttPacket.generate(p)),
      close: (hard) => new Promise((res) => {
        sock.once("close", () => res());
        if (hard) sock.destroy(); else { r.send({ cmd: "disconnect" }); sock.end(); }
      }),
    };
    parser.on("packet", (p: any) => {
      r.packets.push(p);
      if (p.cmd == "connack") resolve(r);
      if (!answer) return;
      if (p.cmd == "publish" && p.qos == 1) r.send({ cmd: "puback", messageId: p.messageId });
      if (p.cmd == "publish" && p.qos == 2) r.send({ cmd: "pubrec", messageId: p.messageId });
      if (p.cmd == "pubrel") r.send({ cmd: "pubcomp", messageId: p.messageId });
      if (p.cmd == "pubrec") r.send({ cmd: "pubrel", messageId: p.messageId });
    });
    sock.on("data", (d) => { r.bytes.push(d.toString("latin1")); parser.parse(d); });
    sock.on("error", reject);
    sock.on("connect", () => {
      // mqtt-packet refuses to encode an empty client id without clean session: that CONNECT by hand.
      if (!clientId && !clean) sock.write(Buffer.from("100c00044d5154540400001e0000", "hex"));
      else r.send({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clientId, clean, keepalive: 30 });
    });
  });
  const bin = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + 11) & 255));
  try {
    const other = await raw("rec-other", true);
    other.send({ cmd: "publish", topic: "a/r", payload: "retained", qos: 1, messageId: 1, retain: true });
    await sleep(100);

    // A: clean session, subscriptions, every QoS both ways, ping, unsubscribe.
    const a = await raw("rec-a", true);
    a.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "a/#", qos: 2 }, { topic: "t/+", qos: 1 }, { topic: "b", qos: 0 }] });
    await sleep(100);
    other.send({ cmd: "publish", topic: "a/x", payload: "hello", qos: 0 });
    other.send({ cmd: "publish", topic: "a/y", payload: bin(300), qos: 1, messageId: 2 });
    other.send({ cmd: "publish", topic: "a/z", payload: bin(256), qos: 2, messageId: 3 });
    other.send({ cmd: "publish", topic: "t/1", payload: Buffer.alloc(0), qos: 1, messageId: 4 });
    other.send({ cmd: "publish", topic: "b", payload: bin(1500), qos: 0 });
    other.send({ cmd: "publish", topic: "a/温度", payload: "21.5", qos: 2, messageId: 5 });
    await sleep(200);
    a.send({ cmd: "publish", topic: "dev/out", payload: "q1", qos: 1, messageId: 10 });
    a.send({ cmd: "publish", topic: "dev/out", payload: "q2", qos: 2, messageId: 11 });
    a.send({ cmd: "pingreq" });
    a.send({ cmd: "unsubscribe", messageId: 12, unsubscriptions: ["t/+"] });
    await sleep(200);
    await a.close();
    sessions.push({ name: "A: clean session, SUBACK, retained, QoS 0/1/2 both ways, PINGRESP, UNSUBACK", bytes: a.bytes.join("") });

    // B: a persistent session: queued messages while offline, then a QoS 2 exchange cut after PUBREC.
    const b1 = await raw("rec-b", false);
    b1.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "q/#", qos: 2 }] });
    await sleep(100);
    await b1.close();
    other.send({ cmd: "publish", topic: "q/1", payload: "offline-1", qos: 1, messageId: 6 });
    other.send({ cmd: "publish", topic: "q/2", payload: "offline-2", qos: 2, messageId: 7 });
    await sleep(100);
    const b2 = await raw("rec-b", false, false); // does not answer: PUBLISH stays unacknowledged
    await sleep(200);
    for (const p of b2.packets) if (p.cmd == "publish" && p.qos == 2) b2.send({ cmd: "pubrec", messageId: p.messageId });
    await sleep(100);
    await b2.close(true);
    const b3 = await raw("rec-b", false); // resent PUBLISH (DUP) and PUBREL
    await sleep(200);
    await b3.close();
    sessions.push({ name: "B1: persistent session, first connect + SUBACK", bytes: b1.bytes.join("") });
    sessions.push({ name: "B2: session present, queued QoS 1/2, PUBREL after PUBREC, cut", bytes: b2.bytes.join("") });
    sessions.push({ name: "B3: session present, resends with DUP", bytes: b3.bytes.join("") });

    // C: refused: an empty client id with clean session off (CONNACK 2).
    const c = await raw("", false);
    await sleep(100);
    c.sock.destroy();
    sessions.push({ name: "C: CONNACK 2 (identifier rejected)", bytes: c.bytes.join("") });
    await other.close();
  } finally {
    await mosq.stop();
  }
  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../../../test/fuzz/corpus.ts");
  const text = [
    "// Broker->client byte streams recorded from Mosquitto by `node .build/host/src/tools/fuzz.js --record`",
    "// (generated: do not edit). The mutation fuzzer in harness.ts starts from these.",
    "const hex = (h: string) => Buffer.from(h, \"hex\").toString(\"latin1\");",
    "",
    "export const RECORDED: string[] = [",
    ...sessions.map((s) => `  // ${s.name} (${s.bytes.length} bytes)\n  hex("${Buffer.from(s.bytes, "latin1").toString("hex")}"),`),
    "];",
    "",
  ].join("\n");
  fs.writeFileSync(file, text);
  console.log(`recorded ${sessions.length} sessions into ${path.relative(process.cwd(), file)}:`);
  for (const s of sessions) console.log(`  ${s.bytes.length.toString().padStart(6)} bytes  ${s.name}`);
}

if (isMainThread) {
  main().catch((e) => { console.error(e); process.exitCode = 1; });
} else {
  work(workerData as WorkerJob);
}
