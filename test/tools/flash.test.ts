// flash.sh: --dry-run output for each board, argument and config errors, a board that does not answer,
// and a whole upload through the real espruino tool to a fake Espruino console over TCP.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync } from "node:fs";
import net from "node:net";
import vm from "node:vm";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../src/tools/config-check.js";

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
const espruinoLine = (board: string, port: string, firmware = "firmware/mote.js") =>
  `$ npx espruino --no-ble -b 115200 -p ${port} --board .build/flash/${board}/espruino-board.json ` +
  `--storage mote.json:.build/flash/${board}/mote.json --storage mote.board:.build/flash/${board}/mote.board ` +
  `--storage mote-info:firmware/mote-info.js --storage mote.a:${firmware} --storage .bootcde:firmware/boot.js .build/flash/${board}/finish.js`;

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
    "--storage mote-info:firmware/mote-info.js --storage mote.a:firmware/mote.js --storage .bootcde:firmware/boot.js"), r.out);
  const bad = await flash(["--board", "wemos-d1-mini", "--port", "/dev/ttyUSB0", "--config", join(ROOT, "boards/examples/wemos-d1-mini.json"),
    "--modules", join(dir, "nope"), "--dry-run"]);
  assert.equal(bad.code, 1);
  assert.equal(bad.err, `flash: error: --modules: no such folder: ${join(dir, "nope")}\n`);
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
    assert.match(r.out, /flash: done: .*fw\.js \(\d+ bytes\) is the runtime \(mote\.a, run by the boot guard in \.bootcde\), mote\.json and mote\.board written; the board restarted\n$/);
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
    assert.match(r.err, /flash: error: upload incomplete: Storage holds \.bootcde\/mote\.a\/mote\.json\/mote\.board of 100 100 100 100 bytes, expected \d+ 2005 \d+ \d+\n$/);
  } finally {
    fake.server.close();
  }
});
