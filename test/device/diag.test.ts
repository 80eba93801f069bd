// Diagnostics (mote-diag): a JSON on <base>/diag every diag_every seconds and a second after each
// connect, with the figures from the client's stats() and the board; off with diag_every 0; default
// 300 s when mote-diag is in Storage.
import { test } from "node:test";
import assert from "node:assert/strict";
import { waitFor, sleep } from "../support/util.js";
import { bootBoard, haSuite } from "./ha-common.js";

const suite = haSuite({ watch: ["ha/#"], qos: 0 }), { boards, seen } = suite;
const diags = (base: string) => seen.filter((s) => s.topic == `${base}/diag`);

test("diag_every 1: every second, every field, figures from stats() and the board", async () => {
  const b = bootBoard(suite.broker.port, "diag1", { diag_every: 1 }, { board: "esp8266-nodemcu" });
  boards.push(b);
  b.board.sensors.setRssi(-70);
  await waitFor(() => diags(b.base).length >= 4, 8000, "4 diag messages");
  const d = diags(b.base).map((m) => JSON.parse(m.text));
  assert.deepEqual(Object.keys(d[0]).sort(), ["dropped", "last_error", "oversize", "received", "reconnects", "rssi", "sent",
    "storage_free", "uptime", "vars_free", "vars_total"].sort());
  const last = d.at(-1);
  assert.equal(last.vars_total, 1600, "the ESP8266 layout");
  assert.ok(last.vars_free > 0 && last.vars_free < 1600);
  assert.equal(last.rssi, -70);
  assert.equal(last.reconnects, 0);
  assert.equal(last.last_error, "");
  assert.ok(last.storage_free > 0);
  assert.ok(last.sent > d[0].sent, "sent grows (status, diag...)");
  assert.equal(last.dropped, b.board.run("mote.client.stats().dropped"));
  assert.ok(!diags(b.base).some((m) => m.retain), "not retained");
  // Period: about a second apart (loaded machine: wide margins).
  const at = diags(b.base).map((m) => m.at);
  const gaps = at.slice(1).map((t, i) => t - at[i]).filter((g) => g > 300);
  assert.ok(gaps.every((g) => g < 2500), `gaps ${gaps}`);
  // An error of the client shows as last_error; a lost connection counts a reconnect.
  b.board.run('mote.client.publish("bad/#", "x")');
  b.board.wifi.drop();
  await sleep(300);
  b.board.wifi.restore();
  await waitFor(() => { const x = JSON.parse(diags(b.base).at(-1)!.text); return x.reconnects >= 1; }, 15000, "reconnect counted");
  const after = JSON.parse(diags(b.base).at(-1)!.text);
  assert.ok(after.last_error.length > 0, "last error kept");
  assert.ok(after.uptime >= last.uptime);
});

test("diag_every 0: nothing; default 300 s: one a second after connect, then quiet", async () => {
  const off = bootBoard(suite.broker.port, "diag0", { diag_every: 0 });
  const def = bootBoard(suite.broker.port, "diagd", {});
  boards.push(off, def);
  await waitFor(() => diags(def.base).length >= 1, 8000, "first diag after connect");
  await sleep(2500);
  assert.equal(diags(def.base).length, 1, "the next one is 300 s away");
  assert.equal(diags(off.base).length, 0);
  assert.equal(off.board.run("mote.f && mote.f.diag"), undefined, "mote-diag not loaded");
});
