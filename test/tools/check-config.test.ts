// The check-config CLI (.build/host/src/tools/check-config.js) on good and bad files.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, loadBoard } from "../../src/tools/config-check.js";
import { compactBoard } from "../../src/device/config.js";

const CLI = join(ROOT, ".build/host/src/tools/check-config.js");
let dir: string;
before(() => { dir = mkdtempSync(join(tmpdir(), "mote-check-config-")); });
after(() => rmSync(dir, { recursive: true, force: true }));

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
function file(name: string, content: unknown) {
  const p = join(dir, name);
  writeFileSync(p, typeof content == "string" ? content : JSON.stringify(content, null, 2));
  return p;
}

for (const b of ["esp32-devkitc", "esp8266-nodemcu", "wemos-d1-mini"]) {
  test(`examples: ${b} is OK`, () => {
    const r = run(`boards/examples/${b}.json`, "--board", b);
    assert.deepEqual(r, { code: 0, out: "OK\n", err: "" });
  });
}

test("without --board only the board-independent rules apply", () => {
  const p = file("anypin.json", { wifi: { ssid: "n" }, mqtt: { host: "h" }, sensors: [{ name: "a", type: "analog", pin: "D40" }] });
  assert.deepEqual(run(p), { code: 0, out: "OK\n", err: "" });
  assert.equal(run(p, "--board", "esp32-devkitc").out, "sensors[0].pin: D40 is not a pin of esp32-devkitc\n");
});

test("a bad config: each error on its own line, exit 1", () => {
  const p = file("bad.json", {
    wifi: { ssid: "net", pass: "x" }, mqtt: { host: "h", keep_alive: 0, tls: true }, base: "home/+/x",
    sensors: [{ name: "t", type: "analog", pin: "D5" }, { name: "t", type: "memory", every: 0 }, { name: "u", type: "digital", pin: "D1" }],
    actuators: [{ name: "fan", type: "pwm", pin: "A0", qos: 3 }],
  });
  const r = run(p, "--board", "wemos-d1-mini");
  assert.equal(r.code, 1);
  assert.equal(r.err, "");
  assert.deepEqual(r.out.split("\n"), [
    "base: must not contain + or #",
    "wifi.pass: unknown key",
    "mqtt.keep_alive: must be 1..65535",
    "mqtt.tls: wemos-d1-mini has no TLS",
    "sensors[0].pin: D5 has no ADC on wemos-d1-mini",
    "sensors[1].every: must be > 0",
    "sensors[1].name: duplicate name t (sensors[0])",
    "sensors[2].pin: D1 is not a pin of wemos-d1-mini (reserved: UART0 TX: the Espruino console over USB; the label D1 on the board is Espruino pin D5)",
    "actuators[0].qos: must be 0..2",
    "actuators[0].pin: A0 has no PWM on wemos-d1-mini",
    "",
  ]);
});

test("missing required keys and a wrong top-level type", () => {
  assert.deepEqual(run(file("empty.json", {})), { code: 1, out: "wifi: required\nmqtt: required\n", err: "" });
  assert.deepEqual(run(file("array.json", [])), { code: 1, out: "config: must be a JSON object\n", err: "" });
});

test("a file that is not JSON, a file that is missing", () => {
  const p = file("broken.json", "{ \"wifi\": ");
  const r = run(p, "--board", "esp32-devkitc");
  assert.equal(r.code, 1);
  assert.match(r.out, new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: not valid JSON: `));
  const m = run(join(dir, "nope.json"));
  assert.equal(m.code, 1);
  assert.equal(m.out, `${join(dir, "nope.json")}: cannot read: ENOENT\n`);
});

test("usage errors exit 2", () => {
  let r = run();
  assert.equal(r.code, 2);
  assert.match(r.err, /^check-config: no config file given\nusage: npm run check-config -- FILE \[--board esp32-devkitc\|esp8266-nodemcu\|wemos-d1-mini\] \[--out DIR\]\n$/);
  r = run("boards/examples/esp32-devkitc.json", "--board", "esp99");
  assert.equal(r.code, 2);
  assert.match(r.err, /^check-config: --board: unknown board esp99 \(one of: esp32-devkitc, esp8266-nodemcu, wemos-d1-mini\)\n/);
  r = run("boards/examples/esp32-devkitc.json", "--board");
  assert.equal(r.code, 2);
  assert.match(r.err, /--board needs a value/);
  r = run("boards/examples/esp32-devkitc.json", "--verbose");
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown option --verbose/);
});

test("--out writes the files flash.sh uploads", () => {
  const out = join(dir, "out");
  const r = run("boards/examples/esp8266-nodemcu.json", "--board=esp8266-nodemcu", "--out", out);
  assert.deepEqual(r, { code: 0, out: "OK\n", err: "" });
  const cfg = JSON.parse(readFileSync(join(ROOT, "boards/examples/esp8266-nodemcu.json"), "utf8"));
  assert.equal(readFileSync(join(out, "mote.json"), "utf8"), JSON.stringify(cfg));
  assert.deepEqual(JSON.parse(readFileSync(join(out, "mote.board"), "utf8")), compactBoard(loadBoard("esp8266-nodemcu")));
  assert.deepEqual(JSON.parse(readFileSync(join(out, "espruino-board.json"), "utf8")),
    { BOARD: "ESP8266_4MB", info: { builtin_modules: ["net", "Storage", "Wifi", "ESP8266", "crypto"] } });
  assert.equal(readFileSync(join(out, "modules"), "utf8"), "DHT22\n");
  // nothing is written for a bad config
  const out2 = join(dir, "out2");
  assert.equal(run(file("bad2.json", { wifi: {} }), "--board", "wemos-d1-mini", "--out", out2).code, 1);
  assert.throws(() => readFileSync(join(out2, "mote.json")));
});
