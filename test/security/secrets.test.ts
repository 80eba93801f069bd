// Credentials never leak: the client (firmware/mote-mqtt.js) and the device runtime (firmware/mote.js),
// both built, in the host simulator against a Mosquitto with a password file, are driven through
// refused logins and a range of errors with a distinctive username and password. Everything they say
// is collected: every event and its arguments (error code, message, stack), the board's console, the
// simulator's trace, uncaught exceptions, stats(), and every message that reaches the broker (an
// mqtt.js client logged in as another user subscribes to '#'). None may contain the password, the
// wrong password tried, the WiFi password, or the username.
// Mosquitto is required: when absent, startMosquitto() throws and the test fails (never skips).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { SimBoard } from "../../src/host/index.js";
import { compactBoard } from "../../src/device/config.js";
import { ROOT, loadBoard } from "../../src/tools/config-check.js";
import { startMosquitto, type MosquittoInstance } from "../support/mosquitto.js";
import { startProxy } from "../support/proxy.js";
import { mqttjsClient, endClient, collect, waitFor, sleep } from "../support/util.js";
import { device, cleanup, type Device } from "../session/harness.js";

const USER = "mote-u5er-q7";
const PASS = "s3cr3t-P4ss-xyz";
const WRONG = "wr0ng-P4ss-abc";
const WIFI_PW = "w1f1-S3cret-k9";
const SECRETS: Record<string, string> = { password: PASS, "wrong password": WRONG, username: USER, "wifi password": WIFI_PW };
const WATCHER = { username: "watcher", password: "watcher-pw-1" };
const DEVICE_FW = process.env.MOTE_DEVICE_FIRMWARE || join(ROOT, "firmware/mote.js");

let broker: MosquittoInstance;

before(async () => {
  broker = await startMosquitto({ passwordFile: { [USER]: PASS, [WATCHER.username]: WATCHER.password } });
});
after(async () => {
  await broker?.stop();
});

/** Everything reachable in a value as text: strings as they are, objects by own property names (so an
 *  Error's message, code and stack are all seen), depth-limited. */
function dump(v: unknown, depth = 0, seen = new Set<unknown>()): string {
  if (typeof v === "string") return v;
  if (v === null || typeof v !== "object") return String(v);
  if (seen.has(v) || depth > 6) return "";
  seen.add(v);
  const parts: string[] = [];
  for (const k of Object.getOwnPropertyNames(v)) {
    let x: unknown;
    try { x = (v as Record<string, unknown>)[k]; } catch { continue; }
    if (typeof x === "function") continue;
    parts.push(k + "=" + dump(x, depth + 1, seen));
  }
  return "{" + parts.join(", ") + "}";
}

/** Collected output, by source, to search for the secrets. */
class Haystack {
  readonly parts: { where: string; text: string }[] = [];
  add(where: string, text: string): void {
    this.parts.push({ where, text });
  }
  all(): string {
    return this.parts.map((p) => p.text).join("\n");
  }
  assertClean(): void {
    for (const [label, secret] of Object.entries(SECRETS)) {
      for (const p of this.parts) {
        const i = p.text.indexOf(secret);
        assert.ok(i < 0, `the ${label} appears in ${p.where}: ...${p.text.slice(Math.max(0, i - 60), i + secret.length + 20)}...`);
      }
    }
  }
}

/** Board-side handlers like a user's script would have: every event printed on the console. */
const PRINT_EVENTS = `
client.on("connected", function (sp) { console.log("mqtt connected", sp); });
client.on("disconnected", function (r) { console.log("mqtt disconnected:", r); });
client.on("error", function (e) { console.log("mqtt error", e.code + ": " + e.message); });
client.on("subscribe_failed", function (f, g) { console.log("mqtt subscribe_failed", f, g); });
`;

function collectDevice(h: Haystack, name: string, dev: Device, trace: string[]): void {
  for (const e of dev.events) h.add(`${name} event ${e.name}`, e.args.map((a) => dump(a)).join(" | "));
  h.add(`${name} stats()`, JSON.stringify(dev.client.stats()));
  h.add(`${name} stats() on the board`, dev.board.run("JSON.stringify(client.stats())"));
  h.add(`${name} console`, dev.board.logs.join("\n"));
  h.add(`${name} uncaught`, dev.board.errors.map((e) => dump(e)).join("\n"));
  h.add(`${name} simulator trace`, trace.join("\n"));
}

/** A booted board running the device firmware with config `cfg` (as test/device/runtime.test.ts does). */
function runtimeBoard(cfg: object, serial: string, trace: string[], prepare?: (b: SimBoard) => void): SimBoard {
  const board = new SimBoard({ board: "esp32-devkitc", serial, trace: (l) => trace.push(l) });
  board.wifi.setNetwork({ ssid: "mote-lab", password: WIFI_PW });
  board.wifi.failDelay = 100;
  prepare?.(board);
  board.storage.writeText("mote.json", JSON.stringify(cfg));
  board.storage.writeText("mote.board", JSON.stringify(compactBoard(loadBoard("esp32-devkitc"))));
  board.flash(readFileSync(DEVICE_FW, "utf8"));
  board.boot();
  return board;
}

function collectRuntime(h: Haystack, name: string, board: SimBoard, trace: string[]): void {
  h.add(`${name} console`, board.logs.join("\n"));
  h.add(`${name} uncaught`, board.errors.map((e) => dump(e)).join("\n"));
  h.add(`${name} simulator trace`, trace.join("\n"));
  h.add(`${name} mote.errors`, JSON.stringify(board.json("mote.errors")));
  if (board.run("!!mote.client")) h.add(`${name} stats()`, JSON.stringify(board.json("mote.client.stats()")));
}

test("secrets: username and passwords appear in no error, event, console line, trace, stats() or published message", async (t) => {
  const env = cleanup(t);
  assert.ok(existsSync(DEVICE_FW), `${DEVICE_FW} is missing: run npm run build`);
  const h = new Haystack();

  // Everything published on the broker, seen by another user.
  const spy = env.add(await mqttjsClient(broker.url, { ...WATCHER, clientId: "spy" }), (c) => endClient(c));
  const seen = collect(spy, "#");
  await spy.subscribeAsync("#", { qos: 1 });

  // ---- started first, they fail in the background while the rest runs
  // 1. the client with a wrong password (reconnecting with backoff)
  const t1: string[] = [];
  const wrong = env.add(device(broker.port, { client_id: "sec-wrong", username: USER, password: WRONG }, { trace: (l) => t1.push(l) }), (d) => d.close());
  wrong.run(PRINT_EVENTS);
  wrong.client.connect();
  // 2. the device runtime with a wrong MQTT password, after a refused WiFi join
  const r1trace: string[] = [];
  const r1 = env.add(runtimeBoard({
    wifi: { ssid: "mote-lab", password: WIFI_PW },
    mqtt: { host: "127.0.0.1", port: broker.port, username: USER, password: WRONG, keep_alive: 5, client_id: "sec-r1" },
    base: "sec/dev/r1",
  }, "sec-r1", r1trace, (b) => b.wifi.failNext(1, "auth_fail")), (b) => b.close());

  // ---- 3. the client with the right password, through a proxy (to cut the link), driven into errors
  const proxy = env.add(await startProxy({ targetPort: broker.port }), (p) => p.close());
  const t2: string[] = [];
  const good = env.add(device(proxy.port, {
    client_id: "sec-good", username: USER, password: PASS, max_packet: 64, keep_alive: 5,
    will: { topic: "sec/lib/will", message: "gone", qos: 1 },
  }, { trace: (l) => t2.push(l) }), (d) => d.close());
  good.run(PRINT_EVENTS);
  await good.connect();
  await good.subscribe("sec/lib/#", 1);
  good.run(`
    client.publish("sec/+/bad", "x");                  // invalid_topic
    client.publish("sec/lib/q", "x", {qos: 3});        // invalid_qos
    client.subscribe("sec/#/bad");                     // invalid_filter
    client.publish("sec/lib/hello", "hello", {qos: 1});
  `);
  await spy.publishAsync("sec/lib/big", "B".repeat(300), { qos: 1 }); // oversize (max_packet 64)
  await good.waitEvent("error", { where: (e) => e.args[0].code === "oversize" });
  good.run(`client.publish("sec/lib/stats", JSON.stringify(client.stats()), {qos: 1});`);
  await seen.waitForCount(3); // hello, big, stats at least
  // link lost: the will fires, the client reconnects
  const from = good.mark();
  await proxy.cut("reset");
  await good.waitEvent("disconnected", { from });
  await good.waitEvent("connected", { from, timeoutMs: 5000 });
  good.run(`client.publish("sec/lib/stats", JSON.stringify(client.stats()), {qos: 1}); client.disconnect();`);
  await good.waitEvent("disconnected", { from, count: 2 });
  good.run(`client.publish("sec/lib/late", "x");`); // offline
  await good.board.flush();

  // ---- 4. the device runtime with the right password and a config with errors (one of them a
  // misspelt key holding the password): it connects, reports "error" and the list on <base>/error.
  const r2trace: string[] = [];
  const r2 = env.add(runtimeBoard({
    wifi: { ssid: "mote-lab", password: WIFI_PW },
    mqtt: { host: "127.0.0.1", port: broker.port, username: USER, password: PASS, pasword: PASS, keep_alive: 5, client_id: "sec-r2" },
    base: "sec/dev/r2",
    sensors: [{ name: "mem", type: "memory", every: 0.2 }, { name: "bad", type: "bogus" }],
  }, "sec-r2", r2trace), (b) => b.close());
  const on = (topic: string) => seen.messages.filter((m) => m.topic === topic).map((m) => m.payload.toString("latin1"));
  await waitFor(() => on("sec/dev/r2/status").includes("error"), 8000, "r2 status 'error'");
  await waitFor(() => on("sec/dev/r2/error").some((m) => m.includes("unknown key")), 3000, "r2 error list");
  await waitFor(() => on("sec/dev/r2/mem").length > 0, 3000, "r2 sensor value");
  // 5. the device runtime whose client options are refused (a user name the client cannot send)
  const r3trace: string[] = [];
  const r3 = env.add(runtimeBoard({
    wifi: { ssid: "mote-lab", password: WIFI_PW },
    mqtt: { host: "127.0.0.1", port: broker.port, username: USER + "\u0000", password: PASS, client_id: "sec-r3" },
    base: "sec/dev/r3",
  }, "sec-r3", r3trace), (b) => b.close());
  await waitFor(() => r3.logs.some((l) => l.startsWith("mote: mqtt:")), 3000, "r3 refusing its options");

  // ---- the failing ones have failed a few times by now
  await waitFor(() => wrong.errors().length >= 2, 5000, "2 refused attempts of the wrong-password client");
  await waitFor(() => r1.logs.filter((l) => l.includes("not_authorized") || l.includes("bad_credentials")).length >= 2, 6000,
    () => `2 refused attempts of the wrong-password device: ${r1.logs.join(" / ")}`);
  r2.run("mote.stop()");
  await waitFor(() => on("sec/dev/r2/status").at(-1) === "offline", 3000, "r2 offline");
  await sleep(100);

  // ---- collect everything
  collectDevice(h, "client (wrong password)", wrong, t1);
  collectDevice(h, "client (right password)", good, t2);
  collectRuntime(h, "device runtime (wrong password)", r1, r1trace);
  collectRuntime(h, "device runtime (right password, config errors)", r2, r2trace);
  collectRuntime(h, "device runtime (refused options)", r3, r3trace);
  for (const m of seen.messages) h.add(`broker message on ${m.topic}`, m.topic + " " + m.payload.toString("latin1"));

  // The collection is not empty: each provoked error is in it (else "no secret found" would mean nothing).
  const all = h.all();
  for (const needle of ["not_authorized", "invalid_topic", "invalid_qos", "invalid_filter", "oversize", "offline",
    "connection lost", "auth_fail", "unknown key", "must be text without U+0000", "\"sent\":", "sec/lib/will gone"]) {
    assert.ok(all.includes(needle), `collected output includes ${JSON.stringify(needle)}`);
  }
  t.diagnostic(`searched ${h.parts.length} sources, ${all.length} characters, ${seen.messages.length} broker messages`);
  h.assertClean();

  // Not a leak of the code, but worth knowing: the client keeps the encoded CONNECT (password included)
  // for reconnects, so printing the client object on the board's console shows it.
  const dumped = String(good.run("JSON.stringify(client)"));
  if (dumped.includes(PASS)) t.diagnostic("note: JSON.stringify(client) / print(client) shows the password (in the kept CONNECT packet)");
});
