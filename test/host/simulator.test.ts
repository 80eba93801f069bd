// Tests of the host simulator (src/host): the board's globals, queued events, timers, net/tls sockets
// with chunked binary data, Storage, simulated WiFi, pins, sensors, memory, reboot and close().
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { SimBoard, loadBoardSpec } from "../../src/host/index.js";
import type { SimBoardOptions } from "../../src/host/index.js";
import { generateCerts } from "../support/certs.js";

const HOST = "127.0.0.1";

function board(t: { after(fn: () => void): void }, opts: SimBoardOptions = {}): SimBoard {
  const b = new SimBoard(opts);
  t.after(() => b.close());
  return b;
}

/** All 256 byte values, `n` times, as a binary string. */
function allBytes(n: number): string {
  let s = "";
  for (let k = 0; k < n; k++) for (let i = 0; i < 256; i++) s += String.fromCharCode(i);
  return s;
}

/** Runs `body` in a fresh Node process (ES module, SimBoard and net imported); resolves with its stdout
 *  once it exits by itself (within 10 s), rejects if it fails or hangs. */
function runChild(body: string): Promise<string> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const index = path.resolve(here, "../../src/host/index.js");
  const script = `import { SimBoard } from ${JSON.stringify(index)};\nimport net from "node:net";\n${body}`;
  return new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ["--input-type=module", "-e", script], { timeout: 10000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`child failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

function listen(onConn: (s: net.Socket) => void): Promise<{ port: number; server: net.Server; close(): Promise<void> }> {
  return new Promise((resolve) => {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => { sockets.add(s); s.on("close", () => sockets.delete(s)); s.on("error", () => {}); onConn(s); s.resume(); });
    server.listen(0, HOST, () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        port, server,
        close: () => new Promise<void>((r) => {
          for (const s of sockets) { s.end(); setTimeout(() => s.destroy(), 500).unref(); }
          server.close(() => r());
        }),
      });
    });
  });
}

describe("globals", () => {
  test("Espruino's globals are there", (t) => {
    const b = board(t);
    for (const g of ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "getTime", "getSerial", "require",
      "digitalWrite", "digitalRead", "analogRead", "analogWrite", "pinMode"]) {
      assert.equal(b.run(`typeof ${g}`), "function", g);
    }
    for (const g of ["E", "process", "console", "D0", "D2", "D32", "LED1"]) assert.equal(b.run(`typeof ${g}`), "object", g);
    assert.equal(b.run("process.env.VERSION"), "2v29-sim");
    assert.equal(b.run("process.env.BOARD"), "ESP32");
    assert.match(b.run("getSerial()"), /^[0-9a-f]{8}-[0-9a-f]{4}$/);
    assert.equal(typeof b.run("getTime()"), "number");
    assert.ok(b.run("getTime()") >= 0 && b.run("getTime()") < 60);
    assert.equal(b.run("String(LED1)"), "D0");
    assert.equal(b.run("typeof Promise"), "function");
    assert.equal(b.run("typeof Uint8Array"), "function");
    const m = b.run("process.memory()");
    assert.equal(m.total, 16383);
    assert.ok(m.usage > 0 && m.free === m.total - m.usage);
  });

  test("what Espruino lacks fails as on the board", (t) => {
    const b = board(t);
    assert.throws(() => b.run("new Map()"), { name: "ReferenceError" });
    assert.throws(() => b.run("new Set()"), { name: "ReferenceError" });
    assert.throws(() => b.run("new WeakMap()"), { name: "ReferenceError" });
    assert.throws(() => b.run("Symbol('x')"), { name: "ReferenceError" });
    assert.throws(() => b.run("new TextEncoder()"), { name: "ReferenceError" });
    assert.throws(() => b.run("Buffer.from('x')"), { name: "ReferenceError" });
    assert.throws(() => b.run("setImmediate(function(){})"), { name: "ReferenceError" });
    assert.throws(() => b.run("queueMicrotask(function(){})"), { name: "ReferenceError" });
    assert.throws(() => b.run("process.nextTick(function(){})"), { name: "TypeError" });
    assert.throws(() => b.run("Array.from([1])"), { name: "TypeError" });
    assert.throws(() => b.run("Uint8Array.from([1])"), { name: "TypeError" });
    assert.throws(() => b.run("Number.isInteger(1)"), { name: "TypeError" });
    assert.throws(() => b.run("Math.trunc(1.5)"), { name: "TypeError" });
    for (const g of ["Buffer", "TextDecoder", "Reflect", "Proxy", "BigInt", "Intl", "WebAssembly", "setImmediate"]) {
      assert.equal(b.run(`typeof ${g}`), "undefined", g);
    }
    assert.equal(b.run("typeof process.nextTick"), "undefined");
    // a thrown error is logged as Espruino would
    assert.ok(b.logs.some((l) => l.startsWith("Uncaught ReferenceError")));
  });

  test("E.toString / E.toUint8Array / atob / btoa keep every byte", (t) => {
    const b = board(t);
    assert.equal(b.run("E.toString([0, 1, 255, 256, 300])"), "\x00\x01\xff\x00\x2c");
    assert.equal(b.run("E.toString(new Uint8Array([65, 66]), 'C', 68, {data: 'x', count: 3})"), "ABCDxxx");
    assert.equal(b.run("var u = E.toUint8Array('\\x00\\xff\\x80A'); u.length + ':' + u[0] + ',' + u[1] + ',' + u[2] + ',' + u[3]"),
      "4:0,255,128,65");
    assert.equal(b.run("u instanceof Uint8Array"), true);
    assert.equal(b.run("E.toString(E.toUint8Array('" + "\\x00\\x7f\\x80\\xfe" + "'))"), "\x00\x7f\x80\xfe");
    assert.equal(b.run("btoa('\\xff\\x00')"), "/wA=");
    assert.equal(b.run("atob('/wA=')"), "\xff\x00");
    const t1 = b.run("E.getTemperature()");
    assert.ok(t1 > 20 && t1 < 90, String(t1));
    assert.ok(b.run("E.getSizeOf({a: 1, b: 'hello world, this is long'})") >= 3);
  });

  test("console.log goes to logs and the log option", (t) => {
    const lines: string[] = [];
    const b = board(t, { log: (l) => lines.push(l) });
    b.run("console.log('hello', 42, {a: [1, 2]}, undefined)");
    assert.deepEqual(b.logs, ["hello 42 { \"a\": [ 1, 2 ] } undefined"]);
    assert.deepEqual(lines, b.logs);
  });

  test("require: built-ins, missing modules, added modules and Storage files", (t) => {
    const b = board(t);
    assert.throws(() => b.run("require('nope')"), { message: 'Module "nope" not found' });
    b.addModule("mod", "var n = 0; exports.inc = function () { return ++n; }; exports.self = this === exports;");
    assert.equal(b.run("require('mod').inc() + require('mod').inc()"), 3); // cached: one instance
    assert.equal(b.run("require('mod').self"), true);
    b.addModule("mod2", "module.exports = function (x) { return x * 2; };");
    assert.equal(b.run("require('mod2')(21)"), 42);
    b.run("require('Storage').write('fromflash', 'exports.v = 7;')");
    assert.equal(b.require("fromflash").v, 7);
    assert.equal(typeof b.require("net").connect, "function");
    assert.equal(typeof b.require("tls").connect, "function");
    assert.equal(typeof b.require("Wifi").connect, "function");
    assert.equal(typeof b.require("ESP32").getState().freeHeap, "number");
    assert.throws(() => b.run("require('ESP8266')"), { message: 'Module "ESP8266" not found' });
    // module code runs in its own scope
    b.addModule("scoped", "var secret = 1; exports.ok = true;");
    b.run("require('scoped')");
    assert.equal(b.run("typeof secret"), "undefined");
  });

  test("an ESP8266 board: no tls, 268-byte chunks, NaN temperature, A0", (t) => {
    const b = board(t, { board: "esp8266-nodemcu" });
    assert.equal(b.spec.chunk, 268);
    assert.throws(() => b.run("require('tls')"), { message: 'Module "tls" not found' });
    assert.equal(b.run("typeof require('ESP8266').getState"), "function");
    assert.ok(Number.isNaN(b.run("E.getTemperature()")));
    assert.equal(b.run("typeof A0"), "object");
    assert.equal(b.run("process.memory().total"), 1600);
    assert.equal(b.run("process.env.BOARD"), "ESP8266_4MB");
  });

  test("a board without a Wifi module", (t) => {
    const b = board(t, { wifi: false });
    assert.throws(() => b.run("require('Wifi')"), { message: 'Module "Wifi" not found' });
  });

  test("loadBoardSpec reads boards/*.json and rejects unknown boards", () => {
    const s = loadBoardSpec("esp32-devkitc");
    assert.equal(s.chunk, 536);
    assert.equal(s.tls, true);
    assert.ok(s.pins.D32.includes("adc"));
    assert.throws(() => loadBoardSpec("no-such-board"), /unknown board "no-such-board"/);
  });
});

describe("events", () => {
  test("emit queues the listeners: they run after the current code, in order", async (t) => {
    const b = board(t);
    b.run(`var seen = [];
      var o = {};
      o.on('x', function (a, b2) { seen.push('x1:' + a + b2 + ':' + (this === o)); });
      o.on('x', function (a) { seen.push('x2:' + a); });
      o.emit('x', 1, 2);
      o.on('x', function () { seen.push('late'); });
      seen.push('sync');`);
    assert.deepEqual(b.json("seen.slice()"), ["sync"]);
    await b.flush();
    assert.deepEqual(b.json("seen.slice()"), ["sync", "x1:12:true", "x2:1"]);
  });

  test("on/emit/removeListener/removeAllListeners are non-enumerable and per object", async (t) => {
    const b = board(t);
    b.run(`var a = {}, c = {}, got = [];
      function h(v) { got.push(v); }
      a.on('e', h); c.on('e', function (v) { got.push('c' + v); });
      a.emit('e', 1); c.emit('e', 2);`);
    assert.equal(b.run("Object.keys(a).length + Object.keys({}).length"), 0);
    assert.equal(b.run("JSON.stringify(a)"), "{}");
    assert.equal(b.run("var k = []; for (var x in a) k.push(x); k.length"), 0);
    await b.flush();
    assert.deepEqual(b.json("got.slice()"), [1, "c2"]);
    b.run("a.removeListener('e', h); a.emit('e', 3); c.removeAllListeners(); c.emit('e', 4);");
    await b.flush();
    assert.deepEqual(b.json("got.slice()"), [1, "c2"]);
    assert.throws(() => b.run("a.emit('e', 1, 2, 3, 4, 5)"), { name: "TypeError", message: "Too many arguments (>4)" });
  });

  test("an exception in a listener is reported and the others still run", async (t) => {
    const errors: unknown[] = [];
    const b = board(t, { onError: (e) => errors.push(e) });
    b.run("var o = {}, ran = false; o.on('x', function () { throw new Error('boom'); }); o.on('x', function () { ran = true; }); o.emit('x');");
    await b.flush();
    assert.equal(b.run("ran"), true);
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as Error).message, "boom");
    assert.ok(b.logs.includes("Uncaught Error: boom"));
  });

  test("E.on('init') runs at boot(), after the boot code in Storage", (t) => {
    const b = board(t);
    b.flash("var order = ['bootcde']; E.on('init', function () { order.push('init'); }); function onInit() { order.push('onInit'); }");
    b.boot();
    assert.deepEqual(b.json("order.slice()"), ["bootcde", "init", "onInit"]);
  });
});

describe("timers", () => {
  test("setTimeout/setInterval with arguments, Espruino ids and clear rules", async (t) => {
    const b = board(t);
    b.run(`var got = [];
      var t1 = setTimeout(function (a, b2) { got.push(a + b2); }, 5, 'a', 'b');
      var t2 = setTimeout(function () { got.push('never'); }, 5);
      var n = 0, iv = setInterval(function () { if (++n === 3) { clearInterval(iv); got.push('iv'); } }, 2);
      clearTimeout(t2);`);
    assert.equal(b.run("t1"), 1);
    assert.equal(b.run("t2"), 2);
    assert.throws(() => b.run("clearTimeout(undefined)"), { message: "clearTimeout(undefined) not allowed. Use clearTimeout() instead" });
    b.run("clearTimeout(12345)"); // unknown ids are ignored
    await b.waitFor(() => b.run("got.length") === 2, 2000);
    assert.deepEqual(b.json("got.slice().sort()"), ["ab", "iv"]);
    assert.equal(b.timerCount(), 0);
    // ids restart from the last live one + 1
    assert.equal(b.run("setTimeout(function () {}, 1000)"), 1);
    assert.equal(b.run("setTimeout(function () {}, 1000)"), 2);
    b.run("clearTimeout()"); // no argument: clears every timer
    assert.equal(b.timerCount(), 0);
    assert.throws(() => b.run("setTimeout(42, 1)"), { message: "Function or String not supplied!" });
  });

  test("an exception in a timer is reported, not thrown into Node", async (t) => {
    const b = board(t);
    b.run("setTimeout(function () { null.x; }, 1)");
    await b.waitFor(() => b.errors.length === 1, 2000);
    assert.equal((b.errors[0] as Error).name, "TypeError");
  });

  test("an unhandled promise rejection in board code is reported, not fatal (outside node:test)", async () => {
    // node:test fails a test on any unhandled rejection, so this runs in a plain Node process, like npm start
    const out = await runChild(`
      const b = new SimBoard();
      b.run("Promise.reject(new Error('nobody cares')); new Promise(function (res) { res(1); }).then(function () { throw new TypeError('late'); });");
      setTimeout(() => { console.log(JSON.stringify({ n: b.errors.length, logs: b.logs, second: b.errors[1].name })); b.close(); }, 50);`);
    const r = JSON.parse(out);
    assert.equal(r.n, 2);
    assert.ok(r.logs.includes("Unhandled promise rejection: Error: nobody cares"), out);
    assert.equal(r.second, "TypeError");
  });

  test("close() clears timers, sockets and lets Node exit", async () => {
    const script = `
      const server = net.createServer((s) => { s.on("error", () => {}); }).listen(0, "127.0.0.1", () => {
        const port = server.address().port;
        const b = new SimBoard();
        b.run("setInterval(function(){}, 20); setTimeout(function(){}, 1e6); E.on('x', function(){});" +
          "var s = require('net').connect({host: '127.0.0.1', port: " + port + "}, function () { console.log('up'); });");
        const w = setInterval(() => {
          if (!b.logs.includes("up")) return;
          clearInterval(w);
          b.close();
          server.close();
          console.log("closed", b.timerCount(), b.sockets().length);
        }, 5);
      });`;
    const started = Date.now();
    const out = await runChild(script);
    assert.match(out, /closed 0 0/);
    assert.ok(Date.now() - started < 8000);
  });

  test("a closed board refuses more work", (t) => {
    const b = board(t);
    b.close();
    assert.throws(() => b.run("1"), /closed/);
  });
});

describe("net", () => {
  test("binary round trip, data in chunks of at most 536 bytes", async (t) => {
    const payload = allBytes(12); // 3072 bytes, every byte value
    let received = Buffer.alloc(0);
    const srv = await listen((s) => {
      s.write(Buffer.from(payload, "latin1"));
      s.on("data", (d) => { received = Buffer.concat([received, d]); });
    });
    t.after(() => srv.close());
    const b = board(t);
    b.run(`var chunks = [], events = [];
      var sock = require('net').connect({host: '${HOST}', port: ${srv.port}}, function (s) { events.push('connect:' + (s === sock)); });
      sock.on('data', function (d) { chunks.push(d); sock.write(d); });
      sock.on('close', function (hadError) { events.push('close:' + hadError); });`);
    await b.waitFor(() => b.run("chunks.join('').length") === payload.length, 5000, "all data");
    const chunks: string[] = b.run("chunks.slice()");
    assert.ok(chunks.length >= Math.ceil(payload.length / 536), `${chunks.length} chunks`);
    for (const c of chunks) {
      assert.equal(typeof c, "string");
      assert.ok(c.length > 0 && c.length <= 536, `chunk of ${c.length}`);
    }
    assert.equal(chunks.join(""), payload);
    await b.waitFor(() => received.length === payload.length, 5000, "echo");
    assert.ok(received.equals(Buffer.from(payload, "latin1")));
    assert.deepEqual(b.json("events.slice()"), ["connect:true"]);
    // the server closes: end then close(false)
    b.run("sock.on('end', function () { events.push('end'); })");
    await srv.close();
    await b.waitFor(() => b.run("events.length") === 3, 5000, "close");
    assert.deepEqual(b.json("events.slice()"), ["connect:true", "end", "close:false"]);
    assert.throws(() => b.run("sock.write('x')"), { message: "This socket is closed" });
  });

  test("ESP8266 chunks are at most 268 bytes", async (t) => {
    const payload = allBytes(4);
    const srv = await listen((s) => s.write(Buffer.from(payload, "latin1")));
    t.after(() => srv.close());
    const b = board(t, { board: "wemos-d1-mini" });
    b.run(`var chunks = []; require('net').connect({host: '${HOST}', port: ${srv.port}}).on('data', function (d) { chunks.push(d); });`);
    await b.waitFor(() => b.run("chunks.join('').length") === payload.length, 5000);
    assert.ok((b.run("chunks.slice()") as string[]).every((c) => c.length <= 268));
    assert.equal(b.run("chunks.join('')"), payload);
  });

  test("a refused connection gives error, end, close(true)", async (t) => {
    const srv = await listen(() => {});
    const port = srv.port;
    await srv.close();
    const b = board(t);
    b.run(`var ev = [], connected = false;
      var s = require('net').connect({host: '${HOST}', port: ${port}}, function () { connected = true; });
      s.on('error', function (e) { ev.push('error:' + e.code + ':' + e.message); });
      s.on('end', function () { ev.push('end'); });
      s.on('close', function (h) { ev.push('close:' + h); });`);
    await b.waitFor(() => b.run("ev.length") === 3, 5000);
    assert.deepEqual(b.json("ev.slice()"), ["error:-9:connection reset", "end", "close:true"]);
    assert.equal(b.run("connected"), false);
  });

  test("end() closes the connection: the peer sees FIN, the board end and close", async (t) => {
    let peerEnded = false;
    const srv = await listen((s) => { s.on("end", () => { peerEnded = true; }); });
    t.after(() => srv.close());
    const b = board(t);
    b.run(`var ev = []; var s = require('net').connect({host: '${HOST}', port: ${srv.port}}, function () { s.end('bye'); });
      s.on('close', function (h) { ev.push('close:' + h); });`);
    await b.waitFor(() => b.run("ev.length") === 1, 5000);
    assert.deepEqual(b.json("ev.slice()"), ["close:false"]);
    await b.waitFor(() => peerEnded, 2000);
  });

  test("tls: connects with PEM ca/cert/key and carries binary data", async (t) => {
    const certs = generateCerts({ keyType: "ec" });
    t.after(() => certs.cleanup());
    let clientCn = "";
    const conns = new Set<net.Socket>();
    const server = tls.createServer({
      key: certs.pem(certs.serverKey), cert: certs.pem(certs.serverCert), ca: certs.pem(certs.caCert),
      requestCert: true, rejectUnauthorized: true,
    }, (s) => {
      conns.add(s);
      clientCn = String((s.getPeerCertificate() as any).subject?.CN ?? "");
      s.on("data", (d) => s.write(d));
      s.on("error", () => {});
    });
    await new Promise<void>((r) => server.listen(0, HOST, () => r()));
    t.after(() => new Promise<void>((r) => { for (const c of conns) c.destroy(); server.close(() => r()); }));
    const port = (server.address() as net.AddressInfo).port;
    const b = board(t);
    b.global.__certs = { ca: certs.pem(certs.caCert), cert: certs.pem(certs.clientCert), key: certs.pem(certs.clientKey) };
    const payload = allBytes(3);
    b.global.__payload = payload;
    b.run(`var got = ''; var o = {host: '${HOST}', port: ${port}, ca: __certs.ca, cert: __certs.cert, key: __certs.key, rejectUnauthorized: true};
      var s = require('tls').connect(o, function () { s.write(__payload); });
      s.on('data', function (d) { if (d.length > 536) got = 'TOO BIG'; else got += d; });
      s.on('error', function (e) { console.log('tls error', e.code, e.message); });`);
    await b.waitFor(() => b.run("got.length") >= payload.length, 8000, "tls echo");
    assert.equal(b.run("got"), payload);
    assert.equal(clientCn, "mote-test-client");
    // a server the board cannot verify (wrong CA) fails the handshake when checking is asked for
    b.global.__other = certs.pem(certs.otherCaCert);
    b.run(`var ev2 = []; var s2 = require('tls').connect({host: '${HOST}', port: ${port}, ca: __other, rejectUnauthorized: true});
      s2.on('error', function (e) { ev2.push(e.code); }); s2.on('close', function () { ev2.push('close'); });`);
    await b.waitFor(() => b.run("ev2.length") === 2, 8000, "tls failure");
    assert.deepEqual(b.json("ev2.slice()"), [-13, "close"]);
  });
});

describe("Storage", () => {
  test("read/write/readJSON/writeJSON/erase/list on a folder", (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mote-sim-test-"));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const b = board(t, { storageDir: dir });
    b.run(`var S = require('Storage');
      S.write('a.txt', 'hello');
      S.writeJSON('mote.json', {wifi: {ssid: 'x'}, n: 3});
      S.write('bin', '\\x00\\x01\\xfe\\xff');`);
    assert.equal(b.run("S.read('a.txt')"), "hello");
    assert.equal(b.run("S.read('a.txt', 1, 3)"), "ell");
    assert.equal(b.run("S.read('nope')"), undefined);
    assert.deepEqual(b.json("S.readJSON('mote.json')"), { wifi: { ssid: "x" }, n: 3 });
    assert.equal(b.run("S.readJSON('nope')"), undefined);
    assert.equal(b.run("S.read('bin')"), "\x00\x01\xfe\xff");
    assert.deepEqual([...fs.readFileSync(path.join(dir, "bin"))], [0, 1, 254, 255]);
    assert.deepEqual(b.json("S.list()"), ["a.txt", "bin", "mote.json"]);
    assert.deepEqual(b.json("S.list(/\\.json$/)"), ["mote.json"]);
    b.run("S.write('bad.json', '{nope')");
    assert.equal(b.run("S.readJSON('bad.json', true)"), undefined);
    assert.throws(() => b.run("S.readJSON('bad.json')"));
    assert.throws(() => b.run("S.write('empty', '')"), { message: "Can't create zero length file" });
    assert.throws(() => b.run("S.write('a-very-long-file-name-over-28-chars', 'x')"), /File name too long/);
    b.run("S.erase('a.txt')");
    assert.equal(b.run("S.read('a.txt')"), undefined);
    assert.equal(b.storage.read("mote.json"), '{"wifi":{"ssid":"x"},"n":3}');
    b.storage.writeText("from-host", "hi");
    assert.equal(b.run("S.read('from-host')"), "hi");
    // writing in parts
    b.run("S.write('parts', 'ab', 0, 4); S.write('parts', 'cd', 2);");
    assert.equal(b.run("S.read('parts')"), "abcd");
    assert.ok(b.run("S.getFree()") < 917504);
  });

  test("the temp Storage folder goes away on close()", () => {
    const b = new SimBoard();
    const dir = b.storage.dir;
    assert.ok(fs.existsSync(dir));
    b.close();
    assert.ok(!fs.existsSync(dir));
  });
});

describe("WiFi", () => {
  test("Wifi.connect succeeds asynchronously with events and callback", async (t) => {
    const b = board(t);
    b.wifi.connectDelay = 5;
    b.run(`var W = require('Wifi'), ev = [];
      W.on('connected', function (d) { ev.push('connected:' + d.ip); });
      W.on('disconnected', function (d) { ev.push('disconnected:' + d.msg); });
      W.connect('home', {password: 'secret'}, function (err) { ev.push('cb:' + err); });
      ev.push('sync:' + W.getStatus().station);`);
    await b.waitFor(() => b.run("ev.length") === 3, 2000);
    assert.deepEqual(b.json("ev.slice()"), ["sync:connecting", "cb:null", "connected:10.0.0.42"]);
    assert.equal(b.run("W.getStatus().station"), "connected");
    assert.equal(typeof b.run("W.getStatus().rssi"), "number");
    assert.equal(b.run("W.getIP().ip"), "10.0.0.42");
    assert.equal(b.wifi.connected, true);
  });

  test("a refused join calls back with the reason", async (t) => {
    const b = board(t);
    b.wifi.failDelay = 5;
    b.wifi.setNetwork({ ssid: "home", password: "right" });
    b.run(`var W = require('Wifi'), res = [];
      W.connect('home', {password: 'wrong'}, function (err) { res.push(err); });`);
    await b.waitFor(() => b.run("res.length") === 1, 2000);
    assert.deepEqual(b.json("res.slice()"), ["auth_fail"]);
    b.wifi.failNext(1, "connect_fail");
    b.run("W.connect('home', {password: 'right'}, function (err) { res.push(err); })");
    await b.waitFor(() => b.run("res.length") === 2, 2000);
    assert.equal(b.run("res[1]"), "connect_fail");
    b.run("W.connect('home', {password: 'right'}, function (err) { res.push(err); })");
    await b.waitFor(() => b.run("res.length") === 3, 2000);
    assert.equal(b.run("res[2]"), null);
  });

  test("drop() breaks open sockets and new connections fail until restore()", async (t) => {
    const srv = await listen(() => {});
    t.after(() => srv.close());
    const b = board(t);
    b.wifi.connectDelay = 5;
    b.run(`var ev = [];
      require('Wifi').on('disconnected', function () { ev.push('wifi-down'); });
      var s = require('net').connect({host: '${HOST}', port: ${srv.port}}, function () { ev.push('connect'); });
      s.on('error', function (e) { ev.push('error:' + e.message); });
      s.on('close', function (h) { ev.push('close:' + h); });`);
    await b.waitFor(() => b.run("ev.length") === 1, 5000);
    b.wifi.drop();
    assert.equal(b.wifi.up, false);
    await b.waitFor(() => b.run("ev.length") === 4, 2000);
    assert.deepEqual(b.json("ev.slice()"), ["connect", "wifi-down", "error:no route", "close:true"]);
    b.run(`var ev2 = []; var s2 = require('net').connect({host: '${HOST}', port: ${srv.port}}, function () { ev2.push('connect'); });
      s2.on('error', function (e) { ev2.push('error'); }); s2.on('close', function () { ev2.push('close'); });`);
    await b.waitFor(() => b.run("ev2.length") === 2, 2000);
    assert.deepEqual(b.json("ev2.slice()"), ["error", "close"]);
    b.wifi.restore();
    b.run(`var ev3 = []; require('net').connect({host: '${HOST}', port: ${srv.port}}, function () { ev3.push('connect'); });`);
    await b.waitFor(() => b.run("ev3.length") === 1, 5000);
  });

  test("once the board manages WiFi, sockets need a connected station", async (t) => {
    const srv = await listen(() => {});
    t.after(() => srv.close());
    const b = board(t);
    b.wifi.connectDelay = 5;
    b.run("require('Wifi').disconnect()");
    assert.equal(b.wifi.managed, true);
    b.run(`var ev = []; var s = require('net').connect({host: '${HOST}', port: ${srv.port}});
      s.on('error', function (e) { ev.push(e.code); });`);
    await b.waitFor(() => b.run("ev.length") === 1, 2000);
    b.run("require('Wifi').connect('x', {}, function () { require('net').connect({host: '" + HOST + "', port: " + srv.port + "}, function () { ev.push('ok'); }); })");
    await b.waitFor(() => b.run("ev.length") === 2, 5000);
    assert.deepEqual(b.json("ev.slice()"), [-4, "ok"]);
  });
});

describe("pins", () => {
  test("digitalWrite/digitalRead/pinMode with Espruino's auto modes", (t) => {
    const b = board(t);
    const writes: string[] = [];
    b.pins.onWrite((pin, v, kind) => writes.push(`${pin}=${v}/${kind}`));
    b.run("digitalWrite(D2, 1); digitalWrite('D4', true); D5.set();");
    assert.equal(b.pins.get("D2"), 1);
    assert.equal(b.pins.get("D4"), 1);
    assert.equal(b.pins.get("D5"), 1);
    assert.equal(b.pins.state("D2").mode, "output");
    assert.deepEqual(writes, ["D2=1/digital", "D4=1/digital", "D5=1/digital"]);
    // reading an auto output turns it into an input (as on the board)
    assert.equal(b.run("digitalRead(D2)"), 0);
    assert.equal(b.pins.state("D2").mode, "input");
    // forced output keeps its latch
    b.run("pinMode(D4, 'output'); digitalWrite(D4, 1);");
    assert.equal(b.run("digitalRead(D4)"), 1);
    assert.equal(b.run("getPinMode(D4)"), "output");
    // external levels and pulls
    b.pins.set("D12", 1);
    assert.equal(b.run("digitalRead(D12)"), 1);
    b.run("pinMode(D13, 'input_pullup')");
    assert.equal(b.run("digitalRead(D13)"), 1);
    assert.equal(b.run("D13.read()"), true);
    assert.throws(() => b.run("digitalWrite(D3, 1)"), { name: "ReferenceError" });
    assert.throws(() => b.run("digitalWrite('D99', 1)"), { message: "Invalid pin" });
    assert.throws(() => b.run("pinMode(D2, 'sideways')"), { message: "Unknown pin mode" });
  });

  test("analogRead and analogWrite", (t) => {
    const b = board(t);
    b.pins.setAnalog("D32", 0.25);
    assert.equal(b.run("analogRead(D32)"), 0.25);
    let v = 0.1;
    b.pins.setAnalog("D33", () => v);
    const a = b.run("analogRead(D33)");
    assert.ok(Math.abs(a - 0.1) < 0.001);
    v = 0.9;
    assert.ok(Math.abs(b.run("analogRead(D33)") - 0.9) < 0.001);
    const d = b.run("analogRead(D34)"); // default: a plausible slowly changing level
    assert.ok(d >= 0 && d <= 1);
    assert.ok(Number.isNaN(b.run("analogRead(D2)"))); // no ADC on that pin
    b.run("analogWrite(D5, 0.3, {freq: 200})");
    assert.equal(b.pins.get("D5"), 0.3);
    assert.equal(b.pins.state("D5").freq, 200);
    b.run("analogWrite(D5, 7)");
    assert.equal(b.pins.get("D5"), 1);
  });
});

describe("sensors", () => {
  test("DHT22 reads plausible values, and times out when told to fail", async (t) => {
    const b = board(t);
    b.sensors.timing.dht22Fail = 20;
    b.run("var res = []; var dht = require('DHT22').connect(D4); dht.read(function (r) { res.push(r); });");
    await b.waitFor(() => b.run("res.length") === 1, 2000);
    const r = b.run("res[0]");
    assert.ok(r.temp > 10 && r.temp < 35, JSON.stringify(r));
    assert.ok(r.rh > 20 && r.rh < 80, JSON.stringify(r));
    assert.equal(r.raw.length, 42);
    b.sensors.setDht22("D4", { temp: 30.5, rh: 55 });
    b.run("dht.read(function (r) { res.push(r); });");
    await b.waitFor(() => b.run("res.length") === 2, 2000);
    assert.equal(b.run("res[1].temp"), 30.5);
    assert.equal(b.run("res[1].rh"), 55);
    b.sensors.fail("D4");
    b.run("dht.read(function (r) { res.push(r); });");
    await b.waitFor(() => b.run("res.length") === 3, 2000);
    assert.equal(b.run("res[2].err"), true);
    assert.equal(b.run("res[2].temp"), -1);
  });

  test("DS18B20 over OneWire", async (t) => {
    const b = board(t);
    b.sensors.timing.ds18b20 = 10;
    b.run("var ow = new OneWire(D5); var ds = require('DS18B20').connect(ow); var temps = []; ds.getTemp(function (v) { temps.push(v); });");
    await b.waitFor(() => b.run("temps.length") === 1, 2000);
    const v = b.run("temps[0]");
    assert.ok(v > 10 && v < 30, String(v));
    b.sensors.fail("D5");
    b.run("ds.getTemp(function (v) { temps.push(v); });");
    await b.waitFor(() => b.run("temps.length") === 2, 2000);
    assert.equal(b.run("temps[1]"), null);
    b.sensors.unplug("D18");
    assert.throws(() => b.run("require('DS18B20').connect(new OneWire(D18))"), { message: "No DS18B20 found" });
  });
});

describe("memory and reboot", () => {
  test("process.memory() and E.getSizeOf grow with the data the board holds", (t) => {
    const b = board(t);
    const before = b.run("process.memory().usage");
    b.run("var big = []; for (var i = 0; i < 200; i++) big.push({n: i, s: 'some text ' + i});");
    const after = b.run("process.memory().usage");
    assert.ok(after - before > 400, `${before} -> ${after}`);
    assert.ok(b.run("E.getSizeOf(big)") > 400);
    b.run("big = undefined");
    assert.ok(b.run("process.memory().usage") < after);
    assert.equal(b.memory().total, 16383);
  });

  test("E.reboot() restarts the interpreter: RAM lost, Storage kept, boot code run again", async (t) => {
    const b = board(t);
    b.flash("var boots = (require('Storage').readJSON('count', true) || 0) + 1; require('Storage').writeJSON('count', boots);");
    b.boot();
    b.run("var inRam = 1; setInterval(function () {}, 10);");
    assert.equal(b.run("boots"), 1);
    b.run("E.reboot()");
    await b.waitFor(() => b.reboots === 1 && b.run("typeof boots") === "number", 2000);
    assert.equal(b.run("boots"), 2);
    assert.equal(b.run("typeof inRam"), "undefined");
    assert.equal(b.timerCount(), 0);
  });
});
