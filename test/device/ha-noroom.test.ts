// A board with no memory for an announce round (ha.ts checks before loading anything of it; the device
// config and each per-entity config are checked again before they are written): the board says why on its console and on
// <base>/error, QoS 1 and not retained like the errors of the user's code, so the retained config
// errors stay as they are; it announces nothing, keeps running, and says it again at the next round.
import { test } from "node:test";
import assert from "node:assert/strict";
import { retainedText, waitFor } from "../support/util.js";
import { bootBoard, haSuite } from "./ha-common.js";

const suite = haSuite({ watch: ["homeassistant/#", "ha/#"] }), { boards, seen } = suite;

test("no room for an announce: said on the console and on <base>/error (not retained); nothing announced; the board runs on", async () => {
  // An ESP8266 (1,600 variables) whose memory is mostly taken (baseVars: as by a user's code), with 4
  // sensors, 2 actuators and the diagnostics: the round is not started.
  const b = bootBoard(suite.broker.port, "noroom", {
    homeassistant: true, diag_every: 300,
    sensors: [{ name: "level", type: "analog", pin: "A0", every: 0.2 }, { name: "door", type: "digital", pin: "D4", every: 0.2 },
      { name: "up", type: "uptime", every: 0.2 }, { name: "air", type: "dht22", pin: "D5", every: 0.2 }],
    actuators: [{ name: "relay", type: "digital", pin: "D2" }, { name: "fan", type: "pwm", pin: "D14" }],
  }, { board: "esp8266-nodemcu", sim: { baseVars: 1300 } });
  boards.push(b);
  const { board, base } = b;
  const said = () => board.logs.filter((l) => l.includes("homeassistant: no room"));
  const errors = () => seen.filter((s) => s.topic == `${base}/error` && s.text);
  await waitFor(() => said().length == 1 && errors().length == 1, 8000, () => "no room, on the console and <base>/error: " + board.logs.join("; "));
  assert.deepEqual(board.json("mote.errors"), [], "a valid config");
  const line = said()[0];
  const m = /^mote: homeassistant: no room to announce \((\d+) variables free, (\d+) needed\)$/.exec(line);
  assert.ok(m && +m[1] < +m[2], line);
  assert.deepEqual(errors().map((e) => [e.text, e.retain, e.qos]), [[line.slice("mote: ".length), false, 1]]);
  assert.equal(await retainedText(suite.broker.url, `${base}/error`), undefined, "not retained: the retained config errors (none here) stay as they were");
  assert.equal(await retainedText(suite.broker.url, `${base}/status`), "online");
  assert.ok(!board.logs.some((l) => l.includes("homeassistant: announced")));
  assert.deepEqual(seen.filter((s) => s.topic.startsWith("homeassistant/") && s.topic.includes("noroom")), [], "nothing announced");
  // Running on: sensors publish, actuators obey.
  const n = seen.filter((s) => s.topic == `${base}/up`).length;
  await suite.watcher.publishAsync(`${base}/relay/set`, "1", { qos: 1 });
  await waitFor(() => board.pins.state("D2").out === 1 && seen.filter((s) => s.topic == `${base}/up`).length > n + 2, 5000, "running");
  // Home Assistant's birth asks again: the same answer, again on <base>/error.
  await suite.watcher.publishAsync("homeassistant/status", "online");
  await waitFor(() => said().length == 2 && errors().length == 2, 8000, "said again at the next round");
  assert.deepEqual(board.errors, []);
});
