// `npm run bench`, fleet section (issue 13): figures, no assertions.
//   1. capacity: how many simulated boards running the real firmware/mote.js fit in one Node process
//      on this machine (each: a sensor every second, diag, Home Assistant discovery): for K boards, the
//      sensor messages per board per second a subscriber sees (1.0 is on time), the process's CPU,
//      event-loop delay p99, memory and boot time. "Fits": >= 0.95 msg/s per board and p99 < 100 ms.
//   2. scale: `npm run fleet` with BENCH_FLEET_BOARDS (default 1000) boards, BENCH_FLEET_REAL of them
//      real (default 100, the rest light), one Mosquitto, `mote monitor` as its own process, the page in
//      chromium: how long until the page shows a change (a board's state flipped, repeated), the
//      monitor's memory over time (bounded: it must level off), and the fleet view's frame times while
//      it scrolls through every row as updates keep coming.
// Environment: BENCH_FLEET=0 skips it (BENCH_ONLY=fleet runs only it); BENCH_FLEET_CAPACITY="250,500"
// (the K tried; "none": skip), BENCH_FLEET_SECONDS (how long memory is watched, default 60).
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { monitorEventLoopDelay } from "node:perf_hooks";
import mqtt from "mqtt";
import { startMosquitto, type MosquittoInstance } from "../../test/support/mosquitto.js";
import { ROOT } from "./config-check.js";
import { startFleet } from "./fleet.js";
import { fileURLToPath } from "node:url";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const MB = (b: number) => (b / 1e6).toFixed(0) + " MB";

interface Capacity { k: number; rate: number; cpu: number; p99: number; rss: number; bootS: number; fits: boolean }

/** K real-bundle boards in this process for `seconds`, measured. */
async function capacity(url: string, k: number, seconds = 8): Promise<Capacity> {
  const w = await mqtt.connectAsync(url, { protocolVersion: 4 });
  let n = 0;
  w.on("message", () => n++);
  const prefix = "cap" + k;
  await w.subscribeAsync(prefix + "/+/level");
  const t0 = Date.now();
  const f = startFleet({ broker: { url }, boards: k, real: k, prefix });
  const bootS = (Date.now() - t0) / 1000;
  await sleep(4000); // every board connected, its first values out
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  n = 0;
  const t1 = Date.now(), c1 = process.cpuUsage();
  await sleep(seconds * 1000);
  const dt = (Date.now() - t1) / 1000, cpu = process.cpuUsage(c1);
  h.disable();
  const r = {
    k, bootS, rate: n / dt / k, cpu: (cpu.user + cpu.system) / 1e6 / dt, p99: h.percentile(99) / 1e6, rss: process.memoryUsage().rss,
    fits: false,
  };
  r.fits = r.rate >= 0.95 && r.p99 < 100;
  await f.stop();
  await w.endAsync(true);
  return r;
}

function child(args: string[], tag: string): { proc: ChildProcess; line: (re: RegExp, ms: number) => Promise<string> } {
  const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (s: string) => void }[] = [];
  for (const s of [proc.stdout!, proc.stderr!]) {
    readline.createInterface({ input: s }).on("line", (l) => {
      lines.push(l);
      for (const w of [...waiters]) if (w.re.test(l)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(l); }
    });
  }
  return {
    proc,
    line: (re, ms) => {
      const seen = lines.find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${tag}: no line like ${re} in ${ms} ms; last: ${lines.slice(-3).join(" | ")}`)), ms);
        waiters.push({ re, resolve: (s) => { clearTimeout(t); resolve(s); } });
      });
    },
  };
}

async function stats(base: string): Promise<{ rss: number; heapUsed: number; boards: number; messages: number }> {
  return (await fetch(base + "api/stats?gc")).json() as any;
}

const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

async function scale(broker: MosquittoInstance): Promise<void> {
  const boards = Number(process.env.BENCH_FLEET_BOARDS) || 1000, real = Number(process.env.BENCH_FLEET_REAL ?? 100);
  const seconds = Number(process.env.BENCH_FLEET_SECONDS) || 60;
  const fleet = child([path.join(ROOT, ".build/host/src/tools/fleet.js"), "--boards", String(boards), "--real", String(real), "--broker", broker.url, "--prefix", "bench"], "fleet");
  // A short history (30 points per sensor) fills within the run, so the memory seen levels off in it.
  const monitor = child(["--expose-gc", path.join(ROOT, "bin/mote.js"), "monitor", "--broker", broker.url, "--port", "0", "--history", "30"], "monitor");
  let browser: { close(): Promise<void>; context: any } | undefined;
  const probe = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  try {
    await fleet.line(/all light boards connected/, 120000);
    const url = (await monitor.line(/^mote monitor: http/, 30000)).split(" ")[2];
    await probe.publishAsync("bench/probe/status", "online", { qos: 1, retain: true });
    const t0 = Date.now();
    while ((await stats(url)).boards < boards + 1 && Date.now() - t0 < 60000) await sleep(500);
    const s0 = await stats(url);
    console.log(`  ${boards} boards (${real} real bundle, ${boards - real} light) + 1 probe on one Mosquitto; the monitor sees ${s0.boards} boards`);

    let page: any;
    if (fs.existsSync("/usr/bin/chromium")) {
      const { launchBrowser } = await import("../../test/support/browser.js");
      browser = await launchBrowser();
      page = await browser.context.newPage();
      await page.goto(url);
      await page.waitForFunction((n: number) => (globalThis as any).__mote.rows.size >= n, boards, { timeout: 30000 });
    } else console.log("  /usr/bin/chromium missing: no page figures");

    // Memory of the monitor while the fleet runs (the page connected), and the message rate it takes.
    const mem: number[] = [], heap: number[] = [];
    const m0 = await stats(url), tm0 = Date.now();
    for (let i = 0; i <= seconds; i += 5) {
      const s = await stats(url);
      mem.push(s.rss); heap.push(s.heapUsed);
      if (i < seconds) await sleep(5000);
    }
    const m1 = await stats(url), rate = (m1.messages - m0.messages) / ((Date.now() - tm0) / 1000);
    console.log(`  monitor (history 30 points per sensor, full after 30 s): ${Math.round(rate)} messages/s in; RSS ${MB(mem[0])} at start of the ${seconds} s, ${MB(mem[mem.length - 1])} at the end, ` +
      `max ${MB(Math.max(...mem))}; live heap (after a full GC) ${MB(heap[0])} -> ${MB(heap[heap.length - 1])} (max ${MB(Math.max(...heap))})`);
    console.log(`    live heap every 5 s: ${heap.map((b) => (b / 1e6).toFixed(1)).join(" ")} MB`);
    console.log(`    RSS every 5 s: ${mem.map((b) => (b / 1e6).toFixed(0)).join(" ")} MB`);

    if (page) {
      // Lag: the probe board's state flips; the time until the fleet view shows it (filtered to that row,
      // while every other row's updates keep flowing into the page).
      await page.fill("#filter", "bench/probe");
      const lags: number[] = [];
      for (let i = 0; i < 10; i++) {
        const want = i % 2 ? "online" : "sleeping";
        const shown = page.waitForFunction((w: string) => {
          const el = (globalThis as any).document.querySelector('.vt-body .row[data-base="bench/probe"] .state');
          if (el && el.textContent == w) { (globalThis as any).__shownAt = Date.now(); return true; }
          return false;
        }, want, { polling: "raf", timeout: 10000 });
        const at = Date.now();
        await probe.publishAsync("bench/probe/status", want, { qos: 1, retain: true });
        await shown;
        lags.push((await page.evaluate(() => (globalThis as any).__shownAt)) - at);
        await sleep(300);
      }
      console.log(`  page lag (publish -> fleet view shows it), 10 changes: median ${pct(lags, 0.5)} ms, max ${Math.max(...lags)} ms`);

      // Scrolling: every row, top to bottom, 40 px per frame, with updates coming in.
      await page.fill("#filter", "");
      await sleep(500);
      const frames = await page.evaluate(() => new Promise<{ dt: number[]; rowsInDom: number; height: number }>((resolve) => {
        // Runs in the page (no DOM types in this host project).
        const g: any = globalThis, requestAnimationFrame = g.requestAnimationFrame;
        const body = g.document.getElementById("vt-body")!, dt: number[] = [];
        let last = performance.now();
        body.scrollTop = 0;
        function step(now: number) {
          dt.push(now - last); last = now;
          body.scrollTop += 40;
          if (body.scrollTop + body.clientHeight < body.scrollHeight - 1) requestAnimationFrame(step);
          else resolve({ dt: dt.slice(1), rowsInDom: body.querySelectorAll(".row").length, height: body.scrollHeight });
        }
        requestAnimationFrame(step);
      }));
      console.log(`  scrolling the fleet view (${frames.height} px, ${frames.dt.length} frames): frame time median ${pct(frames.dt, 0.5).toFixed(1)} ms, ` +
        `p95 ${pct(frames.dt, 0.95).toFixed(1)} ms, max ${Math.max(...frames.dt).toFixed(1)} ms; ${frames.rowsInDom} row elements in the page for ${boards + 1} boards`);
    }
  } finally {
    await probe.publishAsync("bench/probe/status", "", { qos: 1, retain: true }).catch(() => {});
    await probe.endAsync(true);
    await browser?.close();
    for (const c of [monitor.proc, fleet.proc]) c.kill("SIGTERM");
    await Promise.all([monitor.proc, fleet.proc].map((c) => new Promise((r) => c.exitCode !== null ? r(null) : c.once("exit", r))));
  }
}

export async function sectionFleet(): Promise<void> {
  console.log("\n== Fleet monitor (issue 13)");
  const broker = await startMosquitto();
  try {
    console.log("  real-bundle boards in one Node process (a sensor every second each; fits: >= 0.95 msg/s per board, event-loop p99 < 100 ms):");
    console.log("    boards  msg/s/board  CPU (cores)  loop p99  RSS      boot");
    const ks = (process.env.BENCH_FLEET_CAPACITY || "250,500,1000,1500,2000").replace("none", "").split(",").map(Number).filter((k) => k > 0);
    let best = 0;
    for (const k of ks) {
      // Each K in a process of its own: memory and timers start clean.
      const p = child([fileURLToPath(import.meta.url), "--capacity", String(k), broker.url], "capacity " + k);
      const c: Capacity = JSON.parse((await p.line(/^\{"k"/, 600000)));
      await new Promise((r) => p.proc.exitCode !== null ? r(null) : p.proc.once("exit", r));
      console.log(`    ${String(k).padStart(6)}  ${c.rate.toFixed(2).padStart(11)}  ${c.cpu.toFixed(2).padStart(11)}  ${c.p99.toFixed(0).padStart(5)} ms  ${MB(c.rss).padEnd(7)}  ${c.bootS.toFixed(1)} s${c.fits ? "" : "  (does not fit)"}`);
      if (c.fits) best = k; else break;
    }
    if (ks.length) console.log(`  fits on this machine: ${best} real-bundle boards (of those tried)`);
  } catch (e) {
    console.log("  capacity skipped: " + (e as Error).message.split("\n")[0]);
  } finally {
    await broker.stop();
  }
  const broker2 = await startMosquitto();
  try {
    await scale(broker2);
  } catch (e) {
    console.log("  scale skipped: " + (e as Error).message.split("\n")[0]);
  } finally {
    await broker2.stop();
  }
}

// `node bench-fleet.js --capacity K URL`: one capacity run, its figures as one JSON line.
if (process.argv[2] == "--capacity") {
  capacity(process.argv[4], Number(process.argv[3])).then((c) => { console.log(JSON.stringify(c)); process.exit(0); },
    (e) => { console.error("capacity: " + (e as Error).message); process.exit(1); });
}
