// Home Assistant on a board that sleeps (mote-sleep): the first cycle after a power-on stays awake for
// the announce (0.5..2 s after the connect) and then sleeps; the wakes after it, where the broker kept
// the session and the retained discovery, announce nothing and sleep as soon as their work is done.
import { test } from "node:test";
import assert from "node:assert/strict";
import { waitFor } from "../support/util.js";
import { FakeHomeAssistant, type Entity } from "../support/ha.js";
import { bootBoard, haSuite } from "./ha-common.js";

const suite = haSuite(), { boards, has } = suite;

test("a sleeping board is discovered on its first cycle, then wakes without announcing again", async () => {
  const ha = new FakeHomeAssistant(suite.broker.url);
  has.push(ha);
  await ha.start();
  // 60 s of sleep last 3 s (sleepScale); awake at most 10 s.
  const b = bootBoard(suite.broker.port, "sleepy", { homeassistant: true, sleep: { every: 60, awake: 10 },
    sensors: [{ name: "up", type: "uptime" }], actuators: [{ name: "relay", type: "digital", pin: "D26" }] },
  { diag: false, sim: { sleepScale: 0.05 } });
  boards.push(b);
  const { board } = b;
  const announced = () => board.logs.filter((l) => l.includes("homeassistant: announced")).length;
  await waitFor(() => board.sleeps == 1, 10000, "first sleep");
  assert.equal(announced(), 1, "announced before the first sleep");
  assert.ok(board.logs.some((l) => /sleep: sleeping \d+ s$/.test(l)), "slept because its work was done, not after 10 s awake: " + board.logs.join("; "));
  const ent = (k: string) => ha.entity("sleepy", k) as Entity;
  await waitFor(() => !!ent("up") && !!ent("relay"), 5000, "discovered");
  assert.equal(ent("up").config.expire_after, 2 * 60 + 3 * 10);
  await waitFor(() => board.sleeps == 3, 15000, "two more cycles");
  assert.equal(announced(), 1, "the wakes (session kept) announce nothing");
  assert.equal(board.logs.filter((l) => l.includes("sleep: after 10 s awake")).length, 0, "no cycle ran into its awake limit");
  assert.deepEqual(ha.errors, []);
  assert.deepEqual(board.errors, []);
});
