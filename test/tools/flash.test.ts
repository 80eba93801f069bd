// flash.sh: --dry-run output for each board, argument and config errors, a board that does not answer,
// a whole upload through the real espruino tool to a fake Espruino console over TCP, and the device key
// of remote management (--remote): put into the config, kept in the key store.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, readdirSync, rmSync, existsSync, statSync } from "node:fs";
import net from "node:net";
import vm from "node:vm";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { ROOT } from "../../src/tools/config-check.js";
import { readKey } from "../../src/tools/mote/keys.js";
import { requireBoardSide } from "./mote/board-side.js";

const FLASH = join(ROOT, "flash.sh");
let dir: string, fw: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "mote-flash-"));
  fw = join(dir, "fw.js");
  writeFileSync(fw, 'E.on("init",function(){print("mote says hi")});\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

function flash(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  return new Promise<{ code: number; out: string; err: string }>((resolve) => {
    execFile(FLASH, args, { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, timeout: 120000 },
      (e, out, err) => resolve({ code: e ? (typeof e.code == "number" ? e.code : -1) : 0, out, err }));
  });
}
/** The MQTT client's cold parts uploaded beside the boot code `firmware` (none beside a test's own file). */
const partsOf = (board: string, firmware: string) => {
  const dir = resolve(ROOT, dirname(firmware));
  const tls = JSON.parse(readFileSync(join(ROOT, "boards", board + ".json"), "utf8")).tls;
  return (existsSync(dir) ? readdirSync(dir) : []).filter((f) => /^mote-mqtt-[a-z0-9]+\.js$/.test(f) && (tls || f != "mote-mqtt-tls.js"))
    .sort().map((f) => `--storage ${f.slice(0, -3)}:${dirname(firmware)}/${f} `).join("");
};
/** The feature modules uploaded for the config at `cfg` (mote-info always; mote-diag unless diag_every is 0). */
const featuresOf = (cfg: string) => {
  const c = JSON.parse(readFileSync(cfg, "utf8"));
  const f = ["mote-info"];
  if (c.diag_every !== 0) f.push("mote-diag");
  if (c.homeassistant) f.push("mote-ha", "mote-ha-announce");
  if (c.sleep) f.push("mote-sleep");
  if (c.remote) f.push("mote-remote", "mote-remote-cmd", "mote-remote-cfg", "mote-remote-ota", "mote-remote-files", "mote-swap");
  return f.map((n) => `--storage ${n}:firmware/${n}.js `).join("");
};
/** Modules beside the runtime: the client's parts, then the config's features. */
const modulesOf = (board: string, firmware: string, cfg = join(ROOT, "boards/examples", board + ".json")) =>
  partsOf(board, firmware) + featuresOf(cfg);
const espruinoLine = (board: string, port: string, firmware = "firmware/mote.js", cfg?: string) =>
  `$ npx espruino --no-ble -b 115200 -p ${port} --board .build/flash/${board}/espruino-board.json ` +
  `--storage mote.json:.build/flash/${board}/mote.json --storage mote.board:.build/flash/${board}/mote.board ` +
  modulesOf(board, firmware, cfg) + `--storage mote.a:${firmware} --storage .bootcde:firmware/boot.js .build/flash/${board}/finish.js`;

for (const board of ["esp32-devkitc", "esp8266-nodemcu", "wemos-d1-mini"]) {
  test(`--dry-run prints the commands for ${board}`, async () => {
    const cfg = join(ROOT, "boards/examples", board + ".json");
    const r = await flash(["--board", board, "--port", "/dev/ttyUSB0", "--config", cfg, "--dry-run"]);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.split("\n");
    assert.ok(lines.some((l) => l.startsWith(`flash: dry run for ${board} (`) && l.endsWith("nothing is sent")), r.out);
    const i = lines.indexOf(`$ node .build/host/src/tools/check-config.js ${cfg} --board ${board} --out .build/flash/${board}`);
    assert.ok(i >= 0, r.out);
    assert.equal(lines[i + 1], "OK");
    // the example configs for esp32-devkitc and esp8266-nodemcu use a DHT22: a warning, as no --modules was given
    const warn = board == "wemos-d1-mini" ? "DS18B20" : "DHT22";
    assert.equal(lines[i + 2], `flash: warning: the config uses Espruino's ${warn} module: it is not uploaded (no ${warn}.js in --modules DIR), so it must already be in the board's Storage`);
    assert.equal(lines[i + 3], espruinoLine(board, "/dev/ttyUSB0"));
    assert.equal(lines[i + 4], "# then the board prints 'MOTE-FLASH <sizes>' (compared with the local files) and restarts with load()");
    // the build is only announced when the firmware is missing
    assert.equal(lines.includes("$ npm run build"), !existsSync(join(ROOT, "firmware/mote.js")));
    // the files the upload would send were prepared
    assert.equal(readFileSync(join(ROOT, ".build/flash", board, "mote.json"), "utf8"),
      JSON.stringify(JSON.parse(readFileSync(cfg, "utf8"))));
    assert.match(readFileSync(join(ROOT, ".build/flash", board, "finish.js"), "utf8"), /MOTE-FLASH/);
  });
}

test("--dry-run with a TCP port and a config path relative to the caller", async () => {
  const r = await flash(["--board=wemos-d1-mini", "--port=tcp://192.168.1.50:23", "--config", "examples/wemos-d1-mini.json", "-n"],
    { cwd: join(ROOT, "boards") });
  assert.equal(r.code, 0, r.err);
  assert.ok(r.out.includes(`check-config.js ${join(ROOT, "boards/examples/wemos-d1-mini.json")} --board wemos-d1-mini`), r.out);
  assert.ok(r.out.includes(espruinoLine("wemos-d1-mini", "tcp://192.168.1.50:23")), r.out);
  assert.ok(!r.out.includes("does not exist"));
});

test("--modules uploads the Espruino modules the config needs", async () => {
  const mods = join(dir, "mods");
  mkdirSync(mods, { recursive: true });
  writeFileSync(join(mods, "DS18B20.js"), "exports.connect=function(){};\n");
  const r = await flash(["--board", "wemos-d1-mini", "--port", "/dev/ttyUSB0", "--config", join(ROOT, "boards/examples/wemos-d1-mini.json"),
    "--modules", mods, "--dry-run"]);
  assert.equal(r.code, 0, r.err);
  assert.ok(!r.out.includes("warning: the config uses"), r.out);
  assert.ok(r.out.includes("--storage mote.board:.build/flash/wemos-d1-mini/mote.board --storage DS18B20:.build/flash/wemos-d1-mini/DS18B20.js " +
    modulesOf("wemos-d1-mini", "firmware/mote.js") + "--storage mote.a:firmware/mote.js --storage .bootcde:firmware/boot.js"), r.out);
  const bad = await flash(["--board", "wemos-d1-mini", "--port", "/dev/ttyUSB0", "--config", join(ROOT, "boards/examples/wemos-d1-mini.json"),
    "--modules", join(dir, "nope"), "--dry-run"]);
  assert.equal(bad.code, 1);
  assert.equal(bad.err, `flash: error: --modules: no such folder: ${join(dir, "nope")}\n`);
});

test("--user uploads the user's code as mote-user.js with its API module; sleep configs get mote-sleep", async () => {
  const user = join(dir, "my-code.js");
  writeFileSync(user, "mote.log('hi');\n");
  const cfg = join(dir, "sleepy.json");
  writeFileSync(cfg, JSON.stringify({ wifi: { ssid: "n" }, mqtt: { host: "h" }, sleep: { every: 300, awake: 10 } }));
  const r = await flash(["--board", "wemos-d1-mini", "--port", "/dev/ttyUSB0", "--config", cfg, "--user", user, "--dry-run"]);
  assert.equal(r.code, 0, r.err);
  assert.ok(r.out.includes("--storage mote-sleep:firmware/mote-sleep.js --storage mote-script:firmware/mote-script.js " +
    `--storage mote-user.js:${user} --storage mote.a:firmware/mote.js --storage .bootcde:firmware/boot.js`), r.out);
  const plain = await flash(["--board", "wemos-d1-mini", "--port", "/dev/ttyUSB0", "--config", join(ROOT, "boards/examples/wemos-d1-mini.json"), "--dry-run"]);
  assert.ok(!plain.out.includes("mote-user.js") && !plain.out.includes("mote-sleep"), plain.out);
  const bad = await flash(["--board", "wemos-d1-mini", "--port", "/dev/ttyUSB0", "--config", cfg, "--user", join(dir, "nope.js"), "--dry-run"]);
  assert.equal(bad.code, 1);
  assert.equal(bad.err, `flash: error: --user: file not found: ${join(dir, "nope.js")}\n`);
});

test("missing or bad arguments", async () => {
  const cfg = join(ROOT, "boards/examples/esp32-devkitc.json");
  let r = await flash(["--board", "esp32-devkitc", "--config", cfg, "--dry-run"]);
  assert.equal(r.code, 1);
  assert.match(r.err, /flash: error: no --port given: name the board's serial port \(e\.g\. \/dev\/ttyUSB0\) or tcp:\/\/host:port\n$/);
  r = await flash(["--port", "/dev/ttyUSB0", "--config", cfg]);
  assert.equal(r.code, 1);
  assert.match(r.err, /flash: error: no --board given \(one of: esp32-devkitc esp8266-nodemcu wemos-d1-mini\)\n$/);
  r = await flash(["--board", "esp99", "--port", "/dev/ttyUSB0", "--config", cfg]);
  assert.equal(r.code, 1);
  assert.equal(r.err, "flash: error: unknown board 'esp99' (one of: esp32-devkitc esp8266-nodemcu wemos-d1-mini)\n");
  r = await flash(["--board", "esp32-devkitc", "--port", "/dev/ttyUSB0"]);
  assert.equal(r.code, 1);
  assert.match(r.err, /flash: error: no --config given/);
  r = await flash(["--board", "esp32-devkitc", "--port", "/dev/ttyUSB0", "--config", "/nonexistent/my.json"]);
  assert.equal(r.code, 1);
  assert.equal(r.err, "flash: error: config file not found: /nonexistent/my.json\n");
  r = await flash(["--board", "esp32-devkitc", "--port", "tcp://bad host", "--config", cfg]);
  assert.equal(r.code, 1);
  assert.equal(r.err, "flash: error: bad --port tcp://bad host: expected tcp://host or tcp://host:port\n");
  r = await flash(["--board", "esp32-devkitc", "--port", "/dev/ttyUSB0", "--config", cfg, "--speed", "9"]);
  assert.equal(r.code, 1);
  assert.match(r.err, /flash: error: unknown argument: --speed\n$/);
});

test("a serial port that does not exist (real run)", async () => {
  const r = await flash(["--board", "esp32-devkitc", "--port", "/dev/ttyMOTE-NOPE", "--config", join(ROOT, "boards/examples/esp32-devkitc.json")],
    { env: { MOTE_FIRMWARE: fw } });
  assert.equal(r.code, 1);
  assert.match(r.err, /^flash: error: port \/dev\/ttyMOTE-NOPE does not exist: is the board plugged in \(and the USB-serial driver loaded\)\? serial ports now: /);
});

test("a bad config stops before anything is sent, listing its errors", async () => {
  const bad = join(dir, "bad.json");
  writeFileSync(bad, JSON.stringify({ wifi: { ssid: "n" }, mqtt: { host: "h", tls: true },
    sensors: [{ name: "light", type: "analog", pin: "D4" }] }));
  for (const dry of [true, false]) {
    const r = await flash(["--board", "esp8266-nodemcu", "--port", "tcp://127.0.0.1:9", "--config", bad, ...(dry ? ["--dry-run"] : [])],
      { env: { MOTE_FIRMWARE: fw } });
    assert.equal(r.code, 1);
    assert.equal(r.err, "  mqtt.tls: esp8266-nodemcu has no TLS\n  sensors[0].pin: D4 has no ADC on esp8266-nodemcu\n" +
      `flash: error: ${bad} is not a valid config for esp8266-nodemcu (nothing was uploaded)\n`);
    assert.ok(!r.out.includes("npx espruino"));
  }
});

test("firmware and config larger than the board's Storage", async () => {
  const big = join(dir, "big.js");
  writeFileSync(big, "x".repeat(196608));
  const r = await flash(["--board", "wemos-d1-mini", "--port", "tcp://127.0.0.1:9", "--config", join(ROOT, "boards/examples/wemos-d1-mini.json")],
    { env: { MOTE_FIRMWARE: big } });
  assert.equal(r.code, 1);
  assert.match(r.err, /^flash: error: .*big\.js \+ config need \d+ bytes of Storage but wemos-d1-mini has 196608\n$/);
});

async function freePort() {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

test("a board that does not answer: connection refused", async () => {
  const port = await freePort();
  const r = await flash(["--board", "esp32-devkitc", "--port", `tcp://127.0.0.1:${port}`, "--config", join(ROOT, "boards/examples/esp32-devkitc.json")],
    { env: { MOTE_FIRMWARE: fw } });
  assert.equal(r.code, 1);
  assert.ok(r.out.includes(espruinoLine("esp32-devkitc", `tcp://127.0.0.1:${port}`, fw)), r.out);
  assert.match(r.err, new RegExp(`flash: error: could not connect to tcp://127\\.0\\.0\\.1:${port}: connection refused: is the board on the network`));
});

test("a board that does not answer: silent peer", async () => {
  const server = net.createServer((s) => { s.on("data", () => {}); s.on("error", () => {}); });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const r = await flash(["--board", "wemos-d1-mini", "--port", `tcp://127.0.0.1:${port}`, "--config", join(ROOT, "boards/examples/wemos-d1-mini.json")],
      { env: { MOTE_FIRMWARE: fw, MOTE_FLASH_TIMEOUT: "60" } });
    assert.equal(r.code, 1);
    assert.match(r.err, new RegExp(`flash: error: the board on tcp://127\\.0\\.0\\.1:${port} did not answer \\(no confirmation in \\.build/flash/wemos-d1-mini/upload\\.log\\)`));
  } finally {
    server.close();
  }
});

// A minimal Espruino console: prompt after each statement, Ctrl-C, lines starting with \x10 not echoed,
// statements run in a vm with print/atob/reset/load and a Storage module over a plain object.
function fakeEspruino(keep = Infinity) {
  const storage: Record<string, string> = {};
  const calls: string[] = [];
  const server = net.createServer((sock) => {
    let buf = "";
    const ctx = vm.createContext({
      print: (...a: unknown[]) => sock.write(a.join(" ") + "\r\n"),
      atob: (x: string) => Buffer.from(x, "base64").toString("latin1"),
      reset: () => calls.push("reset"),
      load: () => { calls.push("load"); sock.write("\r\nmote says hi\r\n"); },
      setTimeout: (f: () => void, ms: number) => setTimeout(f, ms),
      require: (m: string) => m == "Storage" ? {
        write(n: string, d: string, off?: number) {
          calls.push("write " + n);
          storage[n] = ((off ? storage[n].slice(0, off) : "") + d).slice(0, keep);
          return true;
        },
        read: (n: string) => storage[n],
        readJSON: (n: string) => { try { return JSON.parse(storage[n]); } catch { return undefined; } },
        erase: (n: string) => { calls.push("erase " + n); delete storage[n]; },
      } : undefined,
    });
    sock.on("error", () => {});
    sock.on("data", (d) => {
      for (const ch of d.toString("latin1")) {
        if (ch == "\x03") { buf = ""; sock.write("\r\n>"); }
        else if (ch == "\x10") continue;
        else if (ch != "\n") buf += ch;
        else {
          try { vm.runInContext(buf, ctx); buf = ""; sock.write("\r\n>"); }
          catch (e) {
            if (/Unexpected end of input/.test((e as Error).message)) buf += "\n";
            else { sock.write(`Uncaught ${(e as Error).message}\r\n>`); buf = ""; }
          }
        }
      }
    });
  });
  return { server, storage, calls };
}

test("a whole upload to a (fake) Espruino console over TCP", async () => {
  const fake = fakeEspruino();
  await new Promise<void>((r) => fake.server.listen(0, "127.0.0.1", r));
  const port = (fake.server.address() as net.AddressInfo).port;
  try {
    const cfgPath = join(ROOT, "boards/examples/esp32-devkitc.json");
    const r = await flash(["--board", "esp32-devkitc", "--port", `tcp://127.0.0.1:${port}`, "--config", cfgPath], { env: { MOTE_FIRMWARE: fw } });
    assert.equal(r.code, 0, r.out + r.err);
    assert.ok(r.out.includes(espruinoLine("esp32-devkitc", `tcp://127.0.0.1:${port}`, fw)), r.out);
    assert.match(r.out, /flash: done: .*fw\.js \(\d+ bytes\) is the runtime \(mote\.a, run by the boot guard in \.bootcde\), mote\.json, mote\.board and \d+ modules written; the board restarted\n$/);
    assert.equal(fake.storage["mote.a"], readFileSync(fw, "latin1"));
    assert.equal(fake.storage[".bootcde"], readFileSync(join(ROOT, "firmware/boot.js"), "latin1"));
    assert.equal(fake.storage["mote-info"], readFileSync(join(ROOT, "firmware/mote-info.js"), "latin1"));
    // the boot state starts afresh: slot a, the counter kept (none here)
    assert.deepEqual(JSON.parse(fake.storage["mote.s1"]), { g: 1, n: 0 });
    assert.deepEqual(JSON.parse(fake.storage["mote.json"]), JSON.parse(readFileSync(cfgPath, "utf8")));
    assert.deepEqual(JSON.parse(fake.storage["mote.board"]).id, "esp32-devkitc");
    // the interpreter is reset before the files are written, and restarted after
    assert.equal(fake.calls[0], "reset");
    for (let i = 0; i < 20 && !fake.calls.includes("load"); i++) await new Promise((res) => setTimeout(res, 100));
    assert.equal(fake.calls[fake.calls.length - 1], "load");
  } finally {
    fake.server.close();
  }
});

test("the MQTT client's parts beside the boot code are uploaded with it and their sizes confirmed", async () => {
  const fake = fakeEspruino();
  await new Promise<void>((r) => fake.server.listen(0, "127.0.0.1", r));
  const port = (fake.server.address() as net.AddressInfo).port;
  const fwDir = join(dir, "with-parts");
  mkdirSync(fwDir, { recursive: true });
  const boot = join(fwDir, "mote.js");
  writeFileSync(boot, readFileSync(fw, "latin1"), "latin1");
  writeFileSync(join(fwDir, "mote-mqtt-sub.js"), "exports.subscribe=function(){return 1};\n");
  writeFileSync(join(fwDir, "mote-mqtt-tls.js"), "exports.open=function(){};\n");
  try {
    // wemos-d1-mini has no TLS: its part is left out
    const r = await flash(["--board", "wemos-d1-mini", "--port", `tcp://127.0.0.1:${port}`, "--config", join(ROOT, "boards/examples/wemos-d1-mini.json")],
      { env: { MOTE_FIRMWARE: boot } });
    assert.equal(r.code, 0, r.out + r.err);
    assert.ok(r.out.includes(`--storage mote-mqtt-sub:${fwDir}/mote-mqtt-sub.js --storage mote-info:firmware/mote-info.js`), r.out);
    assert.ok(r.out.includes(`--storage mote.a:${boot} --storage .bootcde:firmware/boot.js`), r.out);
    assert.equal(fake.storage["mote-mqtt-sub"], "exports.subscribe=function(){return 1};\n");
    assert.equal(fake.storage["mote-mqtt-tls"], undefined);
    assert.equal(fake.storage["mote.a"], readFileSync(fw, "latin1"));
  } finally {
    fake.server.close();
  }
});

test("an upload the board does not confirm with the right sizes", async () => {
  const fake = fakeEspruino(100); // a Storage that keeps only the first 100 bytes of each file
  await new Promise<void>((r) => fake.server.listen(0, "127.0.0.1", r));
  const port = (fake.server.address() as net.AddressInfo).port;
  const big = join(dir, "big-fw.js");
  writeFileSync(big, "/*" + "x".repeat(2000) + "*/\n");
  try {
    const r = await flash(["--board", "esp32-devkitc", "--port", `tcp://127.0.0.1:${port}`, "--config", join(ROOT, "boards/examples/esp32-devkitc.json")],
      { env: { MOTE_FIRMWARE: big } });
    assert.equal(r.code, 1);
    assert.match(r.err, /flash: error: upload incomplete: Storage holds \.bootcde\/mote\.a\/mote\.json\/mote\.board\/mote-info\/mote-diag of 100 100 100 100 100 100 bytes, expected \d+ 2005 \d+ \d+ \d+ \d+\n$/);
  } finally {
    fake.server.close();
  }
});

// ------------------------------------------------------------------------------ remote management: the device key

/** A config with a client id (the key store names keys by it), written into the temp folder. */
function remoteConfig(name: string, extra: Record<string, unknown> = {}) {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify({ wifi: { ssid: "n", password: "secret-wifi" }, mqtt: { host: "192.168.1.10", client_id: "garage/1 é" },
    base: "home/garage", ...extra }));
  return file;
}
const uploaded = (board: string) => JSON.parse(readFileSync(join(ROOT, ".build/flash", board, "mote.json"), "utf8"));

test("--remote --dry-run: a new key in the config uploaded, where a real run keeps it, nothing written there", async (t) => {
  if (!requireBoardSide(t, { module: false })) return;
  const xdg = join(dir, "xdg-dry");
  const cfg = remoteConfig("remote-dry.json");
  const keys = new Set<string>();
  for (let run = 0; run < 2; run++) {
    const r = await flash(["--board", "esp32-devkitc", "--port", "/dev/ttyUSB0", "--config", cfg, "--remote", "--dry-run"], { env: { XDG_CONFIG_HOME: xdg } });
    assert.equal(r.code, 0, r.err);
    const lines = r.out.split("\n");
    const i = lines.indexOf("flash: remote management for garage/1 é: a new device key is put into the config (.build/flash/esp32-devkitc/config.json)");
    assert.ok(i >= 0, r.out);
    assert.equal(lines[i + 1], "$ node .build/host/src/tools/check-config.js .build/flash/esp32-devkitc/config.json --board esp32-devkitc --out .build/flash/esp32-devkitc");
    assert.equal(lines[i + 2], "OK");
    assert.equal(lines[i + 3], `# a real run keeps the device key for garage/1 é in ${xdg}/mote/keys/garage%2F1%20%C3%A9.key (mode 600), where mote finds it`);
    // with the remote modules, since the config uploaded has remote
    assert.equal(lines[i + 4], espruinoLine("esp32-devkitc", "/dev/ttyUSB0", "firmware/mote.js", join(ROOT, ".build/flash/esp32-devkitc/mote.json")));
    const sent = uploaded("esp32-devkitc");
    assert.match(sent.remote.key, /^[A-Za-z0-9_-]{32}$/);
    assert.equal(sent.remote.confirm, 60);
    // the rest of the config is the user's, untouched
    assert.deepEqual({ ...sent, remote: undefined }, { ...JSON.parse(readFileSync(cfg, "utf8")), remote: undefined });
    keys.add(sent.remote.key);
  }
  assert.equal(keys.size, 2, "each flash generates its own key");
  assert.ok(!existsSync(xdg), "a dry run writes no key");
});

test("a config with remote.key keeps its key; remote without a key gets one; confirm is the config's", async (t) => {
  if (!requireBoardSide(t, { module: false })) return;
  const xdg = join(dir, "xdg-given");
  let r = await flash(["--board", "wemos-d1-mini", "--port", "/dev/ttyUSB0", "--config",
    remoteConfig("remote-given.json", { remote: { key: "my-own-key-0123456789", confirm: 90 } }), "-n"], { env: { XDG_CONFIG_HOME: xdg } });
  assert.equal(r.code, 0, r.err);
  assert.ok(r.out.includes("flash: remote management for garage/1 é: with the device key the config has\n"), r.out);
  assert.deepEqual(uploaded("wemos-d1-mini").remote, { key: "my-own-key-0123456789", confirm: 90 });
  // "remote": {"confirm": 20} without --remote: a key is generated
  r = await flash(["--board", "wemos-d1-mini", "--port", "/dev/ttyUSB0", "--config",
    remoteConfig("remote-nokey.json", { remote: { confirm: 20 } }), "-n"], { env: { XDG_CONFIG_HOME: xdg } });
  assert.equal(r.code, 0, r.err);
  assert.ok(r.out.includes("a new device key is put into the config"), r.out);
  assert.match(uploaded("wemos-d1-mini").remote.key, /^[A-Za-z0-9_-]{32}$/);
  assert.equal(uploaded("wemos-d1-mini").remote.confirm, 20);
  // a key that is too short is refused by the validator, nothing uploaded
  r = await flash(["--board", "wemos-d1-mini", "--port", "/dev/ttyUSB0", "--config",
    remoteConfig("remote-short.json", { remote: { key: "short" } }), "-n"], { env: { XDG_CONFIG_HOME: xdg } });
  assert.equal(r.code, 1);
  assert.match(r.err, /^  remote\.key: .*\nflash: error: .*remote-short\.json is not a valid config for wemos-d1-mini \(nothing was uploaded\)\n$/);
  assert.ok(!existsSync(xdg));
});

test("--remote needs mqtt.client_id (keys are found by it); a plain config gets no key", async () => {
  const cfg = join(dir, "remote-noid.json");
  writeFileSync(cfg, JSON.stringify({ wifi: { ssid: "n" }, mqtt: { host: "h" } }));
  const r = await flash(["--board", "esp32-devkitc", "--port", "/dev/ttyUSB0", "--config", cfg, "--remote", "--dry-run"]);
  assert.equal(r.code, 1);
  assert.equal(r.err, `${cfg}: remote management needs mqtt.client_id in the config: mote finds the board and its key by client id ` +
    "(the default, the board's serial number, is not known before the board runs)\nflash: error: nothing was uploaded\n");
  assert.ok(!r.out.includes("npx espruino"));
  const bad = join(dir, "remote-bad.json");
  writeFileSync(bad, JSON.stringify({ wifi: { ssid: "n" }, mqtt: { host: "h", client_id: "c" }, remote: "yes" }));
  const r2 = await flash(["--board", "esp32-devkitc", "--port", "/dev/ttyUSB0", "--config", bad, "--dry-run"]);
  assert.equal(r2.code, 1);
  assert.match(r2.err, /remote-bad\.json: remote must be an object/);
  const plain = await flash(["--board", "esp32-devkitc", "--port", "/dev/ttyUSB0", "--config", join(ROOT, "boards/examples/esp32-devkitc.json"), "--dry-run"]);
  assert.equal(plain.code, 0, plain.err);
  assert.ok(!plain.out.includes("remote management") && !plain.out.includes("device key"), plain.out);
  assert.equal(uploaded("esp32-devkitc").remote, undefined);
});

test("--remote, real upload: the key the board got is kept in the key store, mode 600, path printed", async (t) => {
  if (!requireBoardSide(t, { module: false })) return;
  const fake = fakeEspruino();
  await new Promise<void>((r) => fake.server.listen(0, "127.0.0.1", r));
  const port = (fake.server.address() as net.AddressInfo).port;
  const xdg = join(dir, "xdg-real");
  try {
    const r = await flash(["--board", "esp32-devkitc", "--port", `tcp://127.0.0.1:${port}`, "--config", remoteConfig("remote-real.json"), "--remote"],
      { env: { MOTE_FIRMWARE: fw, XDG_CONFIG_HOME: xdg } });
    assert.equal(r.code, 0, r.out + r.err);
    const file = join(xdg, "mote/keys/garage%2F1%20%C3%A9.key");
    assert.ok(r.out.includes(`flash: device key for garage/1 é kept in ${file} (mode 600): mote config / mote ota find it there by client id\n`), r.out);
    const onBoard = JSON.parse(fake.storage["mote.json"]);
    assert.equal(readFileSync(file, "utf8"), onBoard.remote.key + "\n");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(xdg, "mote/keys")).mode & 0o777, 0o700);
    assert.equal(readKey("garage/1 é", { XDG_CONFIG_HOME: xdg })?.key, onBoard.remote.key, "mote finds it by client id");
  } finally {
    fake.server.close();
  }
});
