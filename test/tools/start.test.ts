// `npm start` (src/tools/start.ts) as a child process, stdout not a terminal: embedded broker, simulated
// ESP32 with the example config, plain snapshots; an actuator commanded over MQTT shows up in the view;
// --duration ends it with exit code 0 and nothing left running.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../src/tools/config-check.js";
import { canConnect, endClient, mqttjsClient, waitFor } from "../support/util.js";

const START = join(ROOT, ".build/host/src/tools/start.js");

test("npm start: live view of a simulated ESP32, actuator commanded over MQTT, clean exit", { timeout: 20000 }, async () => {
  assert.ok(existsSync(join(ROOT, "firmware/mote.js")), "firmware/mote.js is missing: run npm run build");
  const t0 = Date.now();
  const child = spawn(process.execPath, [START, "--duration", "8"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => { out += d; });
  child.stderr.setEncoding("utf8").on("data", (d: string) => { err += d; });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let exitCode: number | null | undefined;
  void exited.then((c) => { exitCode = c; });
  const show = () => `stdout:\n${out}\nstderr:\n${err}`;

  try {
    // the banner: broker URL and how to command the first actuator
    await waitFor(() => /-t \S+\/set -m on/.test(out) || exitCode !== undefined, 5000, () => "the banner\n" + show());
    const port = Number(/broker mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
    const setTopic = /-t (\S+\/set) -m on/.exec(out)?.[1];
    assert.ok(port > 0 && setTopic, show());
    assert.equal(setTopic, "home/garage/relay/set");
    const base = setTopic.slice(0, -"/relay/set".length);

    const c = await mqttjsClient(`mqtt://127.0.0.1:${port}`);
    try {
      const got = new Map<string, string>();
      c.on("message", (t, m) => got.set(t, m.toString()));
      await c.subscribeAsync([`${base}/status`, `${base}/relay`], { qos: 1 });
      await waitFor(() => got.get(`${base}/status`) == "online", 4000, () => "device online\n" + show());
      // a first snapshot with the relay off, then the command
      await waitFor(() => /^ +relay +digital +D26 +off +high \(inverted\)/m.test(out), 5000, () => "relay off in a snapshot\n" + show());
      // The device subscribes to its commands while connecting: repeat the (idempotent) command until echoed.
      await waitFor(async () => {
        if (got.get(`${base}/relay`) == "1") return true;
        await c.publishAsync(setTopic, "on", { qos: 1 });
        await new Promise((r) => setTimeout(r, 500));
        return got.get(`${base}/relay`) == "1";
      }, 4000, () => "relay echo 1\n" + show());
      // a command the device refuses is shown as a rejected command, never as a config error
      await c.publishAsync(`${base}/fan/set`, "loud", { qos: 1 });
      await waitFor(() => /command rejected fan: rejected "loud"/.test(out), 4000, () => "the rejection in the view\n" + show());
    } finally {
      await endClient(c);
    }

    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<string>((r) => { timer = setTimeout(() => r("still running"), 8000); })]);
    clearTimeout(timer);
    assert.equal(code, 0, show());
    const elapsed = Date.now() - t0;
    assert.ok(elapsed < 11000, `exited after ${elapsed} ms`);

    // what the view showed
    const final = out.slice(out.lastIndexOf("(final)"));
    assert.ok(out.includes("(final)"), show());
    assert.match(out, /^device +status online \(home\/garage\/status/m);
    assert.match(out, /^ +door +digital +D35 +1 s +(true|false) +\d+ s ago +0$/m, "a sensor value with its age");
    assert.match(final, /^ +relay +digital +D26 +on +low \(inverted\) +1 \(\d+ s ago\)$/m, "relay on in the final view");
    assert.match(final, /command relay\/set <- "on"/);
    assert.match(final, /^ +command rejected fan: rejected "loud" \(expected 1\/0, true\/false, on\/off, 0\.\.1 or 0\.\.100%\) \(\d+ s ago; 1 so far\)$/m);
    assert.match(final, /^  \S+ command rejected: fan: rejected "loud"/m, "in the recent events");
    assert.doesNotMatch(out, /config error/, "no config error in a good config");
    assert.match(out, /^messages device out \d+, in [1-9]\d*/m);
    assert.match(out, /^memory +~\d+ of 16383 variables/m);
    assert.match(out, /npx mqtt pub -h 127\.0\.0\.1 -p \d+ -t home\/garage\/relay\/set -m on/);
    assert.match(out, /mosquitto_pub -h 127\.0\.0\.1 -p \d+ -t home\/garage\/fan\/set -m 50%/);
    assert.match(out, /stopped \(--duration 8\); board, view client and broker closed\n$/);
    assert.equal(err, "", "nothing on stderr");

    // nothing left: the process is gone and so is its broker
    assert.throws(() => process.kill(child.pid!, 0), { code: "ESRCH" });
    assert.equal(await canConnect(port), false, `port ${port} still accepts connections`);
  } finally {
    if (exitCode === undefined) child.kill("SIGKILL");
  }
});

// What flash.sh writes (the boot guard, the runtime in its slot, the feature modules the config uses):
// a config with Home Assistant and remote management and the thermostat example as the user's code. The
// view shows the user's actuator (no pin of its own: its echo), and the board announces itself.
test("npm start with Home Assistant, remote management and the user's code: the features run, the view shows them", { timeout: 20000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "mote-start-"));
  const cfg = JSON.parse(readFileSync(join(ROOT, "boards/examples/esp32-devkitc.json"), "utf8"));
  cfg.homeassistant = true;
  cfg.remote = { key: "start-test-key-0123456789" };
  writeFileSync(join(dir, "mote.json"), JSON.stringify(cfg));
  const child = spawn(process.execPath, [START, "--duration", "6", "--interval", "2", "--port", "0", "--config", join(dir, "mote.json"),
    "--user", join(ROOT, "boards/examples/user-thermostat.js")], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => { out += d; });
  child.stderr.setEncoding("utf8").on("data", (d: string) => { err += d; });
  const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
  rmSync(dir, { recursive: true, force: true });
  const show = `stdout:\n${out}\nstderr:\n${err}`;
  assert.equal(code, 0, show);
  const final = out.slice(out.lastIndexOf("(final)"));
  assert.match(final, /^ +setpoint +user +- +20 +- +20 \(/m, show);
  assert.match(final, /homeassistant: announced/, show);
  assert.doesNotMatch(out, /config error|Uncaught/, show);
  assert.equal(err, "", show);
});
