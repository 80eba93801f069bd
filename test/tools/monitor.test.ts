// The fleet monitor's page in a real browser (Debian's chromium through playwright-core), against a
// real Mosquitto and a simulated board running firmware/mote.js: the board appears online, a sensor's
// value and chart update, the page's control moves the board's actuator pin and shows the echo, the
// board's will turns it offline, and the page comes back by itself after the monitor and the broker
// restart. Screenshots of the fleet and board views go to .build/screenshots/ (not committed).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { startMosquitto, type MosquittoInstance } from "../support/mosquitto.js";
import { browserMissing, launchBrowser, type Browser } from "../support/browser.js";
import { waitFor } from "../support/util.js";
import { startMonitor, type Monitor } from "../../src/tools/mote/monitor.js";
import { bootReal, realConfig } from "../../src/tools/fleet.js";
import { ROOT } from "../../src/tools/config-check.js";
import type { SimBoard } from "../../src/host/index.js";

const SHOTS = path.join(ROOT, ".build/screenshots");
const missing = browserMissing();
let broker: MosquittoInstance;
let monitor: Monitor;
let browser: Browser;
let page: Page;
let board: SimBoard;
const BASE = "t/kitchen";

before(async () => {
  if (missing) return;
  broker = await startMosquitto({ persistence: true });
  monitor = await startMonitor({ broker: { url: broker.url }, port: 0 });
  browser = await launchBrowser();
  page = await browser.context.newPage();
  fs.mkdirSync(SHOTS, { recursive: true });
});
after(async () => {
  board?.close();
  await browser?.close();
  await monitor?.close();
  await broker?.stop();
});

const row = (base: string) => `.vt-body .row[data-base="${base}"]`;
const stateText = (sel: string) => page.locator(sel).first().textContent();

test("the fleet page: a simulated board online, sensor and chart, actuator control, will, restarts", { skip: missing }, async () => {
  await page.goto(monitor.url);
  await page.waitForSelector("#vt-head");
  assert.equal(await page.title(), "mote fleet");

  // A board running the real bundle joins: it appears online.
  const cfg = realConfig(BASE, "kitchen-1", { url: broker.url });
  board = bootReal(cfg);
  await page.waitForSelector(row(BASE), { timeout: 15000 });
  await waitFor(async () => (await stateText(row(BASE) + " .state")) == "online", 10000, "the row online");
  await page.screenshot({ path: path.join(SHOTS, "monitor-fleet.png") });

  // The board view: sensor value and chart.
  await page.click(row(BASE));
  await page.waitForSelector('[data-sensor="level"] .value');
  const points = () => page.evaluate(() => (globalThis as any).__mote.charts.level?.data[0].length ?? 0);
  const value = () => page.locator('[data-sensor="level"] .value').textContent();
  await waitFor(async () => (await points()) >= 2, 10000, "two points on the level chart");
  const before = { n: await points(), v: await value() };
  await waitFor(async () => (await points()) > before.n, 5000, "the chart growing");
  assert.match((await value()) ?? "", /^\d+(\.\d+)?$/, "the latest value, a number");
  assert.ok(await page.locator('[data-sensor="level"] canvas').count() >= 1, "uPlot drew a canvas");

  // The relay: the page's control moves the pin on the simulated board and shows the echo.
  const relay = '[data-actuator="relay"]';
  await waitFor(async () => (await page.getAttribute(relay, "data-state")) == "0", 10000, "the relay's echoed state 0");
  assert.equal(board.pins.state("D26").out, 0);
  await page.click(relay + " button.toggle");
  await waitFor(() => board.pins.state("D26").out == 1, 5000, "the relay pin high on the board");
  await waitFor(async () => (await page.getAttribute(relay, "data-state")) == "1", 5000, "the echo 1 on the page");
  assert.equal(await page.locator(relay + " button.toggle").textContent(), "ON");
  // The actuators' echoes are not also shown as sensors.
  assert.equal(await page.locator('[data-sensor="relay"], [data-sensor="fan"]').count(), 0);
  // The fan (PWM) through its slider.
  await page.locator('[data-actuator="fan"] input[type=range]').fill("0.4");
  await waitFor(() => board.pins.state("D25").duty == 0.4, 5000, "the fan's duty 0.4");
  await waitFor(async () => (await page.getAttribute('[data-actuator="fan"]', "data-state")) == "0.4", 5000, "the fan's echo");

  // Config: validated on the host before anything is sent. This board has no "remote" in its mote.json:
  // the page says so and offers no push or OTA.
  await page.fill("#config-text", JSON.stringify({ wifi: { ssid: "x" }, mqtt: { host: "h" }, base: BASE, sensors: [{ name: "a", type: "nope" }] }));
  await waitFor(async () => /sensors\[0\]/.test((await page.locator("#config-errors").textContent()) ?? ""), 5000, "the validator's error on sensors[0]");
  assert.equal(await page.isDisabled("#config-push"), true);
  assert.match((await page.locator("#config-note").textContent()) ?? "", /does not take remote commands/);
  assert.equal(await page.isDisabled("#ota-start"), true);
  await page.fill("#config-text", JSON.stringify({ wifi: { ssid: "x" }, mqtt: { host: "h" }, base: BASE }));
  await waitFor(async () => (await page.locator("#config-errors li").count()) == 0, 5000, "no validator errors");
  await page.fill("#config-text", "");
  // The API says the same: nothing sent to a board without remote, and no board command from a foreign page.
  const r = await fetch(monitor.url + "api/ota?base=" + encodeURIComponent(BASE), { method: "POST", body: "x" });
  assert.equal(r.status, 409);
  assert.match(((await r.json()) as { error: string }).error, /does not take remote commands/);
  const foreign = await fetch(monitor.url + "api/set", { method: "POST", headers: { origin: "http://evil.example" }, body: JSON.stringify({ base: BASE, name: "relay", value: "0" }) });
  assert.equal(foreign.status, 403);
  assert.equal(board.pins.state("D26").out, 1, "the relay untouched");
  await page.screenshot({ path: path.join(SHOTS, "monitor-board.png"), fullPage: true });

  // The monitor restarts on the same port: the page reconnects by itself and shows the board again.
  const port = monitor.port;
  await monitor.close();
  await waitFor(async () => (await page.locator("#live").textContent()) != "live", 5000, "the page noticing");
  monitor = await startMonitor({ broker: { url: broker.url }, port });
  await waitFor(async () => (await page.locator("#live").textContent()) == "live", 15000, "the page live again");
  await waitFor(async () => (await page.locator("#b-state").textContent()) == "online", 10000, "the board online again");

  // The broker restarts: the page shows it lost and back; the board comes back online.
  const connects = monitor.fleet.connects;
  await broker.restart();
  await waitFor(() => monitor.fleet.connects > connects, 15000, "the monitor connected to the broker again");
  await waitFor(async () => (await page.locator("#broker").getAttribute("class"))!.includes("ok"), 15000, "the broker connected again");
  await waitFor(async () => (await page.locator("#b-state").textContent()) == "online", 15000, "the board online after the restart");

  // The board is lost (its socket closed without DISCONNECT): the will turns it offline.
  board.close();
  await waitFor(async () => (await page.locator("#b-state").textContent()) == "offline", 10000, "the board offline (will)");
  await page.click('a[href="#/"]');
  await waitFor(async () => (await stateText(row(BASE) + " .state")) == "offline", 5000, "the row offline");
});
