// Host simulator: runs built Espruino code (firmware/*.js, plain JS text) in a Node `vm` context that
// offers what Espruino offers and nothing of Node. Used by the integration tests and `npm start`.
//
// ---------------------------------------------------------------------------------------------- API
//   import { SimBoard, loadBoardSpec } from "../../src/host/index.js";
//
//   const board = new SimBoard({ board: "esp32-devkitc", log: (l) => console.log(l) });
//   board.addModule("mote-mqtt", fs.readFileSync("firmware/mote-mqtt.js", "utf8")); // or loadModuleFile
//   board.run('var c = require("mote-mqtt").connect({host: "127.0.0.1", port: 1883})');
//   await board.waitFor(() => board.logs.some((l) => l.includes("connected")));
//   board.close();                                   // nothing of the board keeps Node alive after this
//
// new SimBoard(options)                        options (all optional):
//   board          BoardSpec or board id (boards/<id>.json; default "esp32-devkitc")
//   storageDir     folder backing the board's Storage (default: a fresh temp dir, removed by close())
//   keepStorage    keep that temp dir on close()
//   serial         getSerial() (default: random, ESP style "xxxxxxxx-xxxx")
//   wifi           false: no Wifi module on this board (like Espruino on Linux); default: the spec's wifi
//   netNeedsWifi   true: sockets need a connected station; false: only a dropped access point stops them;
//                  "auto" (default): true once the board's code has called Wifi.connect/disconnect
//   log(line)      each console line of the board (also kept in board.logs)
//   onError(err)   each uncaught exception in board code (also kept in board.errors)
//   trace(line)    simulator diagnostics (socket open/close and Node error codes, WiFi, reboots)
//   maxLogs        lines kept in board.logs (default 10000)
//   baseVars       process.memory().usage of the idle board (default 40)
//   onReboot()     called after E.reboot() or load() restarted the board
//   sleepScale     deep sleep lasts its time x this (default 1; 0.01 makes 300 s last 3 s): scaled time
//   onSleep(us)    called when board code enters deep sleep
//
// board.run(code, filename?)     evaluate a script in the board's global scope (like the REPL); returns its
//                                value; a synchronous exception is logged ("Uncaught ...") and rethrown
// board.addModule(name, code, {flash?})  make require(name) find `code` (like a module file; the code runs
//                                in its own scope with `exports` and `module`; flash: true (default) counts
//                                its functions as code in flash for memory())
// board.loadModuleFile(name, path)   the same from a file
// board.loadClient(path)         "mote-mqtt" from that file and its cold parts (mote-mqtt-*.js beside it)
// board.json(code)              run(code), result copied into Node's realm through JSON (for assertions)
// board.require(name)            the board's own require (built-ins, cache, Storage files, added modules)
// board.flash(code, name?)       write boot code to Storage (".bootcde" by default), as flash.sh does
//                                (with the client's cold parts, firmware/mote-mqtt-*.js, when it loads them)
// board.boot()                   power-up: run .boot0-.boot3/.bootcde from Storage, then E "init" listeners
//                                and onInit()
// board.reboot()                 what E.reboot() and load() do: fresh interpreter (RAM lost, Storage kept),
//                                then boot()
// board.powerCut()               the power goes now: nothing more runs, RAM lost, sockets die, Storage keeps
//                                what was written; board.isOff is then true
// board.powerOn()                power back after a cut: fresh interpreter, boot() (board.powerOns counts them)
// board.storage.cutAfter(n)      a power cut INSIDE Storage writes: after n more units of flash change (an
//                                erase = 1, a file created = 1, each data byte = 1) the power goes there,
//                                leaving a file erased, empty (0xFF) or half written as Espruino would;
//                                board.storage.units counts units so far (to pick n from a reference run)
// board.close()                  destroy sockets, clear timers, stop everything (idempotent)
// board.memory()                 {free, usage, total, history, gc, gctime, blocksize}: a host estimate in
//                                JsVars (see memory.ts for what it can and cannot see)
// board.sizeOf(value)            E.getSizeOf(value)
// board.flush()                  resolves once the event queue (queued emits) is empty
// board.waitFor(pred, ms?, what?) polls pred until true (rejects after ms, default 5000)
// board.logs / board.errors      console lines / uncaught exceptions (board-realm values: match errors by
//                                name/message, not instanceof)
// board.global                   the board's global object (changes after a reboot)
// board.spec, board.chip         the board description, "ESP32" | "ESP8266"
// board.storage                  SimStorage: dir, read(name), write(name, data), writeText, readText, erase,
//                                list(), stats(), size (the board's storage_bytes), free(), cutAfter(n), units
// board.wifi                     SimWifi: drop(), restore(), connected, up, station, managed, failNext(n,
//                                reason), setNetwork({ssid, password}), connectDelay, failDelay, ip
// board.pins                     SimPins: get(pin), set(pin, level), setAnalog(pin, v | fn), state(pin),
//                                snapshot(), onWrite(cb) -> unsubscribe, names()
// board.sensors                  SimSensors: setDht22(pin, {temp, rh} | fn), setDs18b20(pin, v | fn),
//                                fail(pin, on?), unplug(pin, on?), setTemperature, setRssi, timing
// board.sockets()                open sockets: [{id, host, port, tls, connected}]
// board.socketHistory            the last 100 sockets opened: [{id, host, port, opened, connected?, closed?}] (Date.now()
//                                times): when each connection attempt started, was accepted, ended
// board.traffic                  {sent, received}: bytes through all the board's sockets so far; maxUnsent:
//                                the most bytes one socket held written and not yet sent (Espruino keeps
//                                those in variables, and copies what its first TCP chunk, 536 bytes,
//                                leaves while sending): settable, to measure from a point on
// board.storage.wear             {writes, erases, bytes}: flash writes by Storage.write (a write of exactly
//                                the present content is none; a rewrite of an existing file is an erase)
// Deep sleep: ESP32.deepSleep(us) / ESP8266.deepSleep(us) power the board off at once (RAM, timers,
//   watches and sockets gone, unsent data lost, Storage kept) and start it again after us x sleepScale
//   (ESP8266.deepSleep(0): only board.wake()); then ESP32.getWakeupCause() is 4 (0 after a power-on or a
//   reboot) and ESP8266.getResetInfo().reason "deep sleep" ("power on", "restart" after a reboot).
//   board.sleeps / board.asleep / board.wakeReason; board.wake() ends a sleep now (a reset).
// setWatch(fn, pin, {repeat, edge, debounce}) / clearWatch: fired by pin level changes (pins.set, a pull
//   on a floating pin); with debounce the edge counts once the level held that long, as on Espruino.
//   board.bounce(pin, level, edges?, gapMs?) toggles the pin like a bouncing contact, then settles.
// I2C: I2C1 (I2C2 on ESP32) and new I2C(): setup({sda, scl}), writeTo(addr, data...), readFrom(addr, n)
//   reach the device wired at that address on those pins, else throw "I2C: no ACK".
//   board.attachBme280({sda, scl, address?}, reading?) wires a BME280 (i2c.ts: registers, calibration,
//   raw values the datasheet's compensation turns into the reading); set(reading), failing = true.
//   require("BME280") is a stand-in for Espruino's module: connect(i2c, {addr}).getData() ->
//   {temp, pressure (hPa), humidity}, talking to the chip over I2C as that module does.
// eval() of a string read from Storage (a .js file) names that file in stack traces, as Espruino does.
//
// ------------------------------------------------------------------------------- board surface
// Globals: setTimeout/setInterval/clearTimeout/clearInterval/changeInterval (Espruino ids: the last id
// + 1, so ids are reused; clearTimeout() clears all, clearTimeout(undefined) throws), getTime() (seconds
// since power-up), getSerial(), load(), console.log/debug/info/warn/error, print, E (on/emit, getSizeOf, toString,
// toUint8Array, toArrayBuffer, getTemperature (NaN on ESP8266), reboot, clip, hwRand,
// stopEventPropagation, getErrorFlags, enableWatchdog/kickWatchdog, lookupNoCase, isUTF8/asUTF8/
// fromUTF8), process {version, env {VERSION, BOARD, ...}, memory()}, atob/btoa, global, Modules
// (addCached...), pins D0..Dn / A0 as Pin objects and LED1 (= D0, as on Espruino's ESP builds),
// digitalWrite/digitalRead/analogRead/analogWrite/pinMode/getPinMode, OneWire, require.
// Object.prototype: on/addListener/prependListener/emit (queued, at most 4 args)/removeListener/
// removeAllListeners.
// Modules: net, tls (boards with tls), Storage, Wifi (boards with wifi), ESP32 or ESP8266, crypto
// (SHA1 on every board; SHA224/256/384/512 on ESP32 only, as Espruino's builds), DHT22, DS18B20, BME280;
// then Storage files; then modules added with addModule. Others: Error 'Module "x" not found'.
// Globals also: setWatch/clearWatch, I2C, I2C1 (and I2C2 on ESP32).
// Removed: Map, Set, WeakMap, WeakSet, WeakRef, Symbol, Proxy, Reflect, BigInt, Intl, WebAssembly,
// SharedArrayBuffer, Atomics, Array.from, Uint8Array.from, Number.isInteger, Math.trunc; never present:
// Buffer, TextEncoder/TextDecoder, setImmediate, queueMicrotask, process.nextTick.
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import vm from "node:vm";
import { BoardSpec, chipOf, DEFAULT_BOARD, loadBoardSpec, repoRoot } from "./board-spec.js";
import { VarCounter, reachable } from "./memory.js";
import { PIN_MODES, SimPins } from "./pins.js";
import { espruinoPrelude, REMOVE_NON_ESPRUINO } from "./prelude.js";
import { SimSensors } from "./sensors.js";
import { SimBme280, SimI2c, type Bme280Reading } from "./i2c.js";
import { MAX_NAME, SimStorage } from "./storage.js";
import { SimWifi } from "./wifi.js";

export interface SimBoardOptions {
  board?: BoardSpec | string;
  storageDir?: string;
  keepStorage?: boolean;
  serial?: string;
  wifi?: boolean;
  netNeedsWifi?: boolean | "auto";
  log?: (line: string) => void;
  onError?: (err: unknown) => void;
  trace?: (line: string) => void;
  maxLogs?: number;
  baseVars?: number;
  onReboot?: () => void;
  /**
   * Deep sleep lasts its time multiplied by this (default 1): 0.01 makes a 300 s sleep 3 s. getTime()
   * still counts real time since the last start (RAM, and with it the clock, is lost in deep sleep).
   */
  sleepScale?: number;
  /** Called when board code enters deep sleep (`us` as asked, before scaling). */
  onSleep?: (us: number) => void;
  /**
   * Strings are bytes, as on Espruino built without Unicode support (the ESP32 and
   * ESP8266 firmware): JSON.parse keeps the low 8 bits of a \u escape. Tests then pass
   * text as its UTF-8 bytes, the way a board's source holds it.
   */
  bytes?: boolean;
}

export interface EspruinoMemory {
  free: number;
  usage: number;
  total: number;
  history: number;
  gc: number;
  gctime: number;
  blocksize: number;
}

interface TimerRec {
  fn: unknown;
  args: unknown;
  repeat: boolean;
  handle: NodeJS.Timeout;
}

interface WatchRec {
  fn: unknown;
  pin: string;
  repeat: boolean;
  edge: number;
  debounce: number;
  last: number;
  lastTime: number;
  timer?: NodeJS.Timeout;
}

interface SockRec {
  id: number;
  host: string;
  port: number;
  tls: boolean;
  sock?: net.Socket;
  connected: boolean;
  closed: boolean;
  code: number;
  pending: number;
  /** Bytes written and not yet handed on by Node (what Espruino would still hold). */
  unsent: number;
}

/** Espruino's socket error codes (libs/network/socketerrors.c). */
export const SOCKET_ERRORS: Record<number, string> = {
  [-1]: "connection closed", [-2]: "out of memory", [-3]: "timeout", [-4]: "no route", [-5]: "busy",
  [-6]: "not found", [-7]: "max sockets", [-8]: "unsent data", [-9]: "connection reset", [-10]: "unknown error",
  [-11]: "no connection", [-12]: "bad argument", [-13]: "SSL handshake failed", [-14]: "invalid SSL data",
  [-15]: "no response",
};

function socketErrorCode(e: NodeJS.ErrnoException, connected: boolean, isTls: boolean): number {
  const code = e.code ?? "";
  if (code === "ECONNREFUSED" || code === "ECONNRESET" || code === "EPIPE" || code === "ECONNABORTED") return -9;
  if (code === "ETIMEDOUT") return -3;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME") return -6;
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH" || code === "EADDRNOTAVAIL") return -4;
  if (isTls) return connected ? -14 : -13;
  return -10;
}

function toPem(v: string, kind: "CERTIFICATE" | "KEY"): string {
  if (v.includes("-----BEGIN")) return v;
  // DER bytes as a binary string (what Espruino's docs suggest: atob of the base64 body)
  const der = Buffer.from(v, "latin1");
  if (kind === "KEY") {
    for (const type of ["pkcs8", "pkcs1", "sec1"] as const) {
      try {
        return crypto.createPrivateKey({ key: der, format: "der", type }).export({ format: "pem", type: "pkcs8" }) as string;
      } catch { /* next */ }
    }
    throw new Error("HTTPS init failed! could not parse 'key'");
  }
  const b64 = der.toString("base64").replace(/(.{64})/g, "$1\n");
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

function randomSerial(): string {
  const b = crypto.randomBytes(6);
  b[0] = 0x24; b[1] = 0x0a; b[2] = 0xc4; // an Espressif OUI
  const h = b.toString("hex");
  return h.slice(0, 8) + "-" + h.slice(8);
}

// Unhandled promise rejections of board code: Node tracks them per process, so one listener routes
// them to the board whose realm made the promise (logged as Espruino does, kept in board.errors).
// While it is installed and a rejection belongs to no board, Node's default (crash) is kept when no
// other listener exists.
const liveBoards = new Set<SimBoard>();
function onUnhandledRejection(reason: unknown, promise: Promise<unknown>): void {
  for (const b of liveBoards) if (b.ownsPromise(promise)) { b.unhandledRejection(reason); return; }
  if (process.listenerCount("unhandledRejection") === 1) throw reason;
}
function track(b: SimBoard, live: boolean): void {
  if (live) {
    if (!liveBoards.size) process.on("unhandledRejection", onUnhandledRejection);
    liveBoards.add(b);
  } else if (liveBoards.delete(b) && !liveBoards.size) {
    process.off("unhandledRejection", onUnhandledRejection);
  }
}

export class SimBoard {
  readonly spec: BoardSpec;
  readonly chip: "ESP32" | "ESP8266";
  readonly storage: SimStorage;
  readonly pins: SimPins;
  readonly sensors: SimSensors;
  readonly wifi: SimWifi;
  readonly serial: string;
  /** Console output of the board, one entry per line. */
  readonly logs: string[] = [];
  /** Uncaught exceptions of board code (values of the board's realm). */
  readonly errors: unknown[] = [];
  /** Reboots completed (E.reboot, ESP32.reboot, load(), board.reboot()). */
  reboots = 0;
  /** Deep sleeps entered, and whether the board is in one now. */
  sleeps = 0;
  asleep = false;
  /** Why the board last started, as the chip reports it: "power on", "restart" (E.reboot) or "deep sleep". */
  wakeReason: "power on" | "restart" | "deep sleep" = "power on";
  /** I2C devices wired to the board (see attachBme280). */
  readonly i2c = new SimI2c();
  /** Bytes through the board's sockets so far (all connections, TLS records included). */
  readonly traffic = { sent: 0, received: 0, maxUnsent: 0 };
  /** Boots after a power cut (powerOn()). */
  powerOns = 0;
  closed = false;

  private readonly opts: SimBoardOptions;
  private readonly hasWifi: boolean;
  private readonly ownsStorage: boolean;
  private readonly t0 = performance.now();
  private ctx!: vm.Context;
  private K: any;
  private globalObj: any;
  private PromiseCtor: any;
  private halted = false;
  private off = false;
  private baselineNames = new Set<string>();
  private baseline = new Set<object>();
  private flashSources: string[] = [];
  private flashSeen = new Set<string>();
  private flashCache = new WeakMap<Function, boolean>();
  private readonly moduleSources = new Map<string, { code: string; flash: boolean }>();
  private readonly timers = new Map<number, TimerRec>();
  private readonly hostTimers = new Set<NodeJS.Timeout>();
  private immediate?: NodeJS.Immediate;
  private readonly socks = new Map<number, SockRec>();
  private sockSeq = 0;
  private readonly watches = new Map<number, WatchRec>();
  private wakeTimer?: NodeJS.Timeout;

  constructor(opts: SimBoardOptions = {}) {
    this.opts = opts;
    this.spec = typeof opts.board === "object" ? opts.board : loadBoardSpec(opts.board ?? DEFAULT_BOARD);
    this.chip = chipOf(this.spec);
    this.hasWifi = opts.wifi === undefined ? this.spec.wifi : opts.wifi && this.spec.wifi;
    this.serial = opts.serial ?? randomSerial();
    this.ownsStorage = !opts.storageDir;
    const dir = opts.storageDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `mote-sim-${this.spec.id}-`));
    this.storage = new SimStorage(dir, this.spec.storage_bytes ?? 917504);
    this.storage.onPowerCut = () => this.powerCut();
    this.sensors = new SimSensors(() => this.uptime());
    this.pins = new SimPins(this.spec, (pin) => this.sensors.analog(pin), this.chip === "ESP8266" ? 10 : 12);
    const mac = this.serial.replace(/-/g, "").padEnd(12, "0").slice(0, 12).replace(/(..)(?!$)/g, "$1:");
    this.wifi = new SimWifi({
      event: (name, details) => { if (this.hasWifi && !this.halted && !this.closed) this.K.wifiEvent(name, JSON.stringify(details ?? {})); },
      done: (err) => { if (this.hasWifi && !this.halted && !this.closed) this.K.wifiDone(err); },
      linkLost: () => this.breakSockets(-4, "WiFi link lost"),
      later: (fn, ms) => this.later(fn, ms),
      rssi: () => this.sensors.rssi(),
    }, mac);
    this.pins.onInput((pin, level) => this.pinChanged(pin, level));
    this.createContext();
    track(this, true);
  }

  // ------------------------------------------------------------------ public API

  /** The board's global object (a new one after each reboot). */
  get global(): any {
    return this.globalObj;
  }

  /** Seconds since power-up (getTime() on the board). */
  uptime(): number {
    return (performance.now() - this.t0) / 1000;
  }

  /** Evaluates a script in the board's global scope, like code sent to the REPL. */
  run(code: string, filename = "REPL"): any {
    this.assertOpen();
    try {
      return vm.runInContext(code, this.ctx, { filename });
    } catch (e) {
      this.print("Uncaught " + this.describe(e));
      throw e;
    }
  }

  /** run(code) with the result copied into Node's realm through JSON (plain data for assertions:
   *  board arrays/objects are not deepStrictEqual to Node's, their prototypes differ). */
  json(code: string, filename = "REPL"): any {
    const v = this.run(code, filename);
    const s = this.globalObj.JSON.stringify(v);
    return s === undefined ? undefined : JSON.parse(s);
  }

  /** Makes require(name) find `code`, like a module file next to the board (node_modules on Linux). */
  addModule(name: string, code: string, opts: { flash?: boolean } = {}): void {
    this.moduleSources.set(name, { code, flash: opts.flash !== false });
  }

  loadModuleFile(name: string, file: string, opts: { flash?: boolean } = {}): void {
    this.addModule(name, fs.readFileSync(file, "utf8"), opts);
  }

  /** The board's require. */
  require(name: string): any {
    this.assertOpen();
    return this.globalObj.require(name);
  }

  /**
   * Writes boot code to Storage (".bootcde": what boot() and a real board run at power-up). Boot code
   * that loads the MQTT client's cold parts (mote's runtime: require("mote-mqtt-<part>")) gets them
   * written beside it from `partsDir`, as flash.sh uploads them with it.
   */
  flash(code: string, name = ".bootcde", partsDir = firmwareDir()): void {
    this.storage.writeText(name, code);
    if (name == ".bootcde" && code.includes('"mote-mqtt-"')) {
      for (const part of clientParts(partsDir)) this.storage.writeText(part.name, fs.readFileSync(part.file, "latin1"));
    }
  }

  /**
   * Makes require("mote-mqtt") find the client module `file` and require("mote-mqtt-<part>") its cold
   * parts, the firmware/mote-mqtt-*.js files beside it (as Storage files next to it would on a board).
   */
  loadClient(file: string): void {
    this.loadModuleFile("mote-mqtt", file);
    for (const part of clientParts(path.dirname(file))) this.loadModuleFile(part.name, part.file);
  }

  /** Power-up: boot code from Storage, then E's "init" listeners and onInit(). */
  boot(): void {
    this.assertOpen();
    for (const f of [".boot0", ".boot1", ".boot2", ".boot3", ".bootcde"]) {
      const src = this.storage.read(f);
      if (src === undefined) continue;
      try {
        this.flashSources.push(src);
        vm.runInContext(src, this.ctx, { filename: f });
      } catch (e) {
        this.uncaught(e);
      }
    }
    this.K.boot();
  }

  /** A fresh interpreter (RAM lost, Storage, pins' external levels and added modules kept), then boot(). */
  reboot(): void {
    this.assertOpen();
    this.reset();
    this.wakeReason = "restart";
    this.reboots++;
    this.opts.onReboot?.();
    this.boot();
  }

  /**
   * The power goes, now: nothing more runs (timers, events, the code now running cannot write Storage
   * any more), RAM is lost, sockets die. Storage keeps what was written; storage.cutAfter(n) instead
   * cuts in the middle of a sequence of Storage writes (see storage.ts for what is left then).
   */
  powerCut(): void {
    if (this.closed || this.off) return;
    this.off = true;
    this.halted = true;
    this.stopEverything();
    this.trace("power cut");
  }

  /** Power back after powerCut() (or a cut inside a Storage write): a fresh interpreter boots from Storage. */
  powerOn(): void {
    this.assertOpen();
    this.storage.powerOn();
    this.off = false;
    this.reset();
    this.powerOns++;
    this.boot();
  }

  /** The board is without power (powerCut, or storage.cutAfter fired). */
  get isOff(): boolean {
    return this.off;
  }

  /** Stops the board: sockets destroyed, timers cleared, nothing left to keep Node alive. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.halted = true;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    track(this, false);
    this.stopEverything();
    if (this.ownsStorage && !this.opts.keepStorage) {
      try { fs.rmSync(this.storage.dir, { recursive: true, force: true }); } catch { /* best effort */ }
    }
  }

  /** process.memory() as the board reports it (a host estimate, in JsVars). */
  memory(): EspruinoMemory {
    const total = this.spec.vars ?? 16383;
    const usage = Math.min(total, (this.opts.baseVars ?? 40) + this.countVars());
    return { free: total - usage, usage, total, history: 0, gc: 0, gctime: 0, blocksize: this.spec.var_bytes ?? 14 };
  }

  /** E.getSizeOf(v). */
  sizeOf(v: unknown): number {
    const c = this.counter();
    if (v !== null && (typeof v === "object" || typeof v === "function")) return Math.max(1, c.object(v as object));
    return Math.max(1, c.value(v));
  }

  /** Resolves when no queued event is left to run. */
  async flush(maxRounds = 10000): Promise<void> {
    for (let i = 0; i < maxRounds && this.immediate && !this.closed; i++) await new Promise((r) => setImmediate(r));
  }

  /** Polls `pred` every 5 ms until it is true; rejects after `timeoutMs` naming `what`. */
  async waitFor(pred: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
    const start = Date.now();
    for (;;) {
      if (pred()) return;
      if (Date.now() - start > timeoutMs) throw new Error(`SimBoard: timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Open sockets of the board. */
  readonly socketHistory: { id: number; host: string; port: number; opened: number; connected?: number; closed?: number }[] = [];

  sockets(): { id: number; host: string; port: number; tls: boolean; connected: boolean }[] {
    return [...this.socks.values()].filter((r) => !r.closed)
      .map((r) => ({ id: r.id, host: r.host, port: r.port, tls: r.tls, connected: r.connected }));
  }

  /**
   * Wires a simulated BME280 to the bus on pins sda/scl at `address` (default 0x76). It measures
   * `reading` (a fixed {temp, rh, pressure} or a function), or by default a slowly changing room:
   * about 21.5 °C, 48 %RH, 1013 hPa. Returns the chip: set(reading), failing = true (no ACK).
   */
  attachBme280(o: { sda: string; scl: string; address?: number }, reading?: Bme280Reading | (() => Bme280Reading)): SimBme280 {
    const key = `bme${o.sda}${o.scl}${o.address ?? 0x76}`;
    const room = () => {
      const d = this.sensors.dht22(key) ?? { temp: 21.5, rh: 48 };
      return { temp: d.temp, rh: d.rh, pressure: 1013 + 4 * Math.sin(this.uptime() / 600) };
    };
    const chip = new SimBme280(room);
    if (reading) chip.set(reading);
    return this.i2c.attach(o.sda, o.scl, o.address ?? 0x76, chip);
  }

  /**
   * A mechanical contact settling on `level`: the pin toggles `edges` times, `gapMs` apart, before it
   * stays at `level` (a press: level 0 with a pull-up). Resolves once it has settled.
   */
  async bounce(pin: string, level: number, edges = 5, gapMs = 2): Promise<void> {
    let v = level ? 0 : 1;
    for (let i = 0; i < edges; i++) {
      v = v ? 0 : 1;
      this.pins.set(pin, v);
      await new Promise((r) => setTimeout(r, gapMs));
    }
    this.pins.set(pin, level);
  }

  /** Ends a deep sleep now (a reset button, or ESP8266.deepSleep(0)'s external reset). */
  wake(): void {
    if (!this.asleep || this.closed) return;
    if (this.wakeTimer) { clearTimeout(this.wakeTimer); this.wakeTimer = undefined; }
    this.asleep = false;
    this.wakeReason = "deep sleep";
    this.reset();
    this.boot();
  }

  /** Number of live timers of the board (setTimeout/setInterval). */
  timerCount(): number {
    return this.timers.size;
  }

  // ------------------------------------------------------------------ context

  private createContext(): void {
    this.ctx = vm.createContext({}, { name: `mote-sim ${this.spec.id}`, codeGeneration: { strings: true, wasm: false } });
    const prelude = vm.runInContext("(" + espruinoPrelude.toString() + ")", this.ctx, { filename: "espruino-prelude.js" });
    this.globalObj = vm.runInContext("globalThis", this.ctx);
    this.PromiseCtor = vm.runInContext("Promise", this.ctx);
    this.K = prelude(this.globalObj, this.bridge());
    vm.runInContext(REMOVE_NON_ESPRUINO, this.ctx, { filename: "espruino-remove.js" });
    const names: string[] = this.K.globalNames();
    this.baselineNames = new Set(names);
    this.baseline = reachable([...names.map((n) => this.K.globalValue(n)), ...this.K.platformObjects(), this.K.natives,
      vm.runInContext("Object.prototype", this.ctx), vm.runInContext("Function.prototype", this.ctx)]);
    this.flashSources = [];
    this.flashSeen = new Set();
    this.flashCache = new WeakMap();
  }

  private reset(): void {
    this.halted = true;
    this.stopEverything();
    this.pins.reset();
    this.wifi.resetStation();
    this.halted = false;
    this.createContext();
    this.trace("board reset");
  }

  private stopEverything(): void {
    for (const t of this.timers.values()) { clearTimeout(t.handle); clearInterval(t.handle); }
    this.timers.clear();
    for (const w of this.watches.values()) if (w.timer) clearTimeout(w.timer);
    this.watches.clear();
    for (const t of this.hostTimers) clearTimeout(t);
    this.hostTimers.clear();
    if (this.immediate) { clearImmediate(this.immediate); this.immediate = undefined; }
    for (const r of this.socks.values()) { r.closed = true; r.sock?.destroy(); }
    this.socks.clear();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error("SimBoard: the board was closed");
  }

  private bridge(): Record<string, unknown> {
    const info = {
      serial: this.serial,
      version: "2v29-sim",
      env: {
        VERSION: "2v29-sim", GIT_COMMIT: "0000000", BOARD: this.spec.espruino_board ?? this.chip,
        RAM: this.chip === "ESP8266" ? 81920 : 327680, FLASH: 0, STORAGE: this.spec.storage_bytes ?? 917504,
        SERIAL: this.serial, CONSOLE: "Serial1",
        MODULES: ["Storage", "net", this.spec.tls ? "tls" : "", this.hasWifi ? "Wifi" : "", this.chip, "crypto"].filter(Boolean).join(","),
      },
      pins: this.pins.names(),
      bytes: !!this.opts.bytes,
      led1: this.pins.valid("D0") ? "D0" : (this.spec.led ?? undefined),
      pinModes: PIN_MODES,
      tls: this.spec.tls,
      wifi: this.hasWifi,
      chip: this.chip,
    };
    return {
      infoJSON: () => JSON.stringify(info),
      schedule: () => this.scheduleDrain(),
      halted: () => this.halted || this.closed,
      uncaught: (e: unknown) => this.uncaught(e),
      log: (s: string) => this.print(String(s)),
      setTimer: (fn: unknown, ms: number, repeat: boolean, args: unknown) => this.setTimer(fn, ms, repeat, args),
      clearTimer: (id: unknown) => this.clearTimer(id),
      clearAllTimers: () => this.clearAllTimers(),
      changeInterval: (id: unknown, ms: number) => this.changeInterval(id, ms),
      now: () => this.uptime(),
      atob: (s: string) => Buffer.from(s, "base64").toString("latin1"),
      btoa: (s: string) => {
        for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 255) throw new Error("btoa: character out of range");
        return Buffer.from(s, "latin1").toString("base64");
      },
      isUTF8: (s: string) => {
        for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 255) return false;
        const b = Buffer.from(s, "latin1");
        return Buffer.from(b.toString("utf8"), "utf8").equals(b);
      },
      asUTF8: (s: string) => Buffer.from(s, "latin1").toString("utf8"),
      fromUTF8: (s: string) => Buffer.from(s, "utf8").toString("latin1"),
      sizeOf: (v: unknown) => this.sizeOf(v),
      memoryJSON: () => JSON.stringify(this.memory()),
      temperature: () => (this.chip === "ESP8266" ? NaN : this.sensors.temperature()),
      deepSleep: (us: number, what: string) => this.deepSleep(us, what),
      wakeReason: () => this.wakeReason,
      watchAdd: (fn: unknown, pin: string, repeat: boolean, edge: number, debounce: number) => this.watchAdd(fn, pin, repeat, edge, debounce),
      watchClear: (id: number) => this.watchClear(id),
      i2cWrite: (sda: string, scl: string, addr: number, data: string) => this.i2cDevice(sda, scl, addr).write([...Buffer.from(data, "latin1")]),
      i2cRead: (sda: string, scl: string, addr: number, n: number) => Buffer.from(this.i2cDevice(sda, scl, addr).read(n)).toString("latin1"),
      reboot: (why?: string) => this.requestReboot(why),
      hash: (alg: string, data: string) => {
        return crypto.createHash(alg).update(Buffer.from(data, "latin1")).digest("hex");
      },
      chipStateJSON: () => {
        const freeHeap = Math.max(0, (this.chip === "ESP8266" ? 14000 : 110000) - this.memory().usage * 3);
        return JSON.stringify(this.chip === "ESP8266"
          ? { sdkVersion: "2.2.2-dev(38a443e)", cpuFrequency: 160, freeHeap, maxCon: 10, flashMap: "4MB:1024/1024", flashKB: 4096, flashChip: "0xef 0x4016" }
          : { sdkVersion: "v4.4.8", freeHeap, BLE: false, Wifi: this.hasWifi, minHeap: Math.round(freeHeap * 0.8) });
      },
      // pins
      pinValid: (p: string) => this.pins.valid(p),
      pinIndex: (p: string) => { const m = /(\d+)$/.exec(p); return m ? Number(m[1]) : 0; },
      pinRead: (p: string) => this.pins.read(p),
      pinWrite: (p: string, v: number) => {
        if (!this.pins.capabilities(p).includes("digital")) this.trace(`digitalWrite(${p}): ${p} cannot be an output on ${this.spec.id}`);
        this.pins.write(p, v);
      },
      pinLatch: (p: string) => this.pins.latch(p),
      pinMode: (p: string, m: string | undefined) => this.pins.setMode(p, m),
      pinGetMode: (p: string) => this.pins.getMode(p),
      analogRead: (p: string) => this.pins.analogRead(p),
      analogWrite: (p: string, v: number, f: number | undefined) => {
        if (!this.pins.capabilities(p).includes("pwm")) this.trace(`analogWrite(${p}): ${p} has no PWM on ${this.spec.id}`);
        this.pins.analogWrite(p, v, f);
      },
      pinInfoJSON: (p: string) => JSON.stringify({ port: p.replace(/\d+$/, ""), num: Number(/(\d+)$/.exec(p)?.[1] ?? 0),
        functions: this.pins.capabilities(p) }),
      // modules
      loadModule: (name: string) => this.loadModule(name),
      compileModule: (name: string, src: string) => this.compileModule(name, src, false),
      // sockets
      sockOpen: (host: string, port: number, t: any) => this.sockOpen(host, port, t),
      sockWrite: (id: number, data: string) => this.sockWrite(id, data),
      sockEnd: (id: number) => this.sockEnd(id),
      // Storage
      stRead: (name: string, offset: number, length: number | undefined) => {
        const v = this.storage.read(name, offset, length);
        // A string read from Storage is backed by flash on the board: code evaluated from it (the boot
        // guard runs the runtime bundle so) keeps its function text there.
        if (v !== undefined && v.length >= 256 && !this.flashSeen.has(v)) { this.flashSeen.add(v); this.flashSources.push(v); }
        return v;
      },
      stWrite: (name: string, data: string, offset: number | undefined, size: number | undefined) => this.storage.write(name, data, offset, size),
      stErase: (name: string) => this.storage.erase(name),
      stEraseAll: () => this.storage.eraseAll(),
      stListJSON: () => JSON.stringify(this.storage.list()),
      stFree: () => this.storage.free(),
      stStatsJSON: () => JSON.stringify(this.storage.stats()),
      // Wifi
      wifiConnect: (ssid: string, pw: string) => { this.trace(`wifi: connect ${JSON.stringify(ssid)}`); this.wifi.connect(ssid, pw); },
      wifiDisconnect: () => { this.trace("wifi: disconnect"); this.wifi.disconnect(); },
      wifiStatusJSON: () => JSON.stringify(this.wifi.status(this.chip)),
      wifiDetailsJSON: () => JSON.stringify(this.wifi.details(this.chip)),
      wifiIPJSON: () => JSON.stringify(this.wifi.ipInfo()),
      wifiHostname: () => this.wifi.hostname,
      wifiSetHostname: (h: string) => { this.wifi.hostname = h; },
      wifiScanJSON: () => JSON.stringify(this.wifi.scan()),
      // sensors
      dhtRead: (pin: string) => {
        const r = this.sensors.dht22(pin);
        if (!r) return null;
        const rh = Math.round(r.rh * 10), t = Math.round(Math.abs(r.temp) * 10);
        const bits = (n: number, w: number) => n.toString(2).padStart(w, "0");
        const bytes = [rh >> 8, rh & 255, (t >> 8) | (r.temp < 0 ? 128 : 0), t & 255];
        const raw = "11" + bytes.map((b) => bits(b, 8)).join("") + bits(bytes.reduce((a, b) => a + b, 0) & 255, 8);
        return JSON.stringify({ raw, rh: r.rh, temp: r.temp });
      },
      sensorDelay: (kind: "dht22" | "dht22Fail" | "ds18b20") => this.sensors.timing[kind],
      oneWireSearchJSON: (pin: string) => JSON.stringify(this.sensors.ds18b20Present(pin)
        ? ["28" + crypto.createHash("sha1").update(this.serial + pin).digest("hex").slice(0, 14)] : []),
      dsRead: (pin: string, bits: number) => this.sensors.ds18b20(pin, bits),
    };
  }

  // ------------------------------------------------------------------ console, errors

  /** @internal whether `p` is a promise of this board's realm. */
  ownsPromise(p: unknown): boolean {
    return p instanceof this.PromiseCtor;
  }

  /** @internal a promise of board code was rejected and nobody handled it. */
  unhandledRejection(reason: unknown): void {
    if (this.closed || this.halted) return;
    this.errors.push(reason);
    this.print("Unhandled promise rejection: " + this.describe(reason));
    try { this.opts.onError?.(reason); } catch { /* the host's problem */ }
  }

  private print(line: string): void {
    if (this.off) return; // no power: whatever the interrupted code still does, nothing comes out
    for (const l of line.split("\n")) {
      this.logs.push(l);
      this.opts.log?.(l);
    }
    const max = this.opts.maxLogs ?? 10000;
    if (this.logs.length > max) this.logs.splice(0, this.logs.length - max);
  }

  private describe(e: unknown): string {
    if (e && typeof e === "object" && "message" in (e as object)) {
      const err = e as { name?: string; message?: string };
      return `${err.name ?? "Error"}: ${err.message}`;
    }
    try { return JSON.stringify(e) ?? String(e); } catch { return String(e); }
  }

  private uncaught(e: unknown): void {
    if (this.off) return;
    this.errors.push(e);
    this.print("Uncaught " + this.describe(e));
    const stack = (e as { stack?: string } | null)?.stack;
    if (stack) this.trace(stack);
    try { this.opts.onError?.(e); } catch { /* the host's problem */ }
  }

  private trace(line: string): void {
    this.opts.trace?.(line);
  }

  // ------------------------------------------------------------------ event queue, timers

  private scheduleDrain(): void {
    if (this.immediate || this.closed) return;
    this.immediate = setImmediate(() => {
      this.immediate = undefined;
      if (!this.closed && !this.halted) this.K.drain();
    });
  }

  /** A host-side timer of the simulator itself (WiFi delays, failures): cleared by close(). */
  private later(fn: () => void, ms: number): void {
    const h = setTimeout(() => {
      this.hostTimers.delete(h);
      if (!this.closed) fn();
    }, ms);
    this.hostTimers.add(h);
  }

  private setTimer(fn: unknown, ms: number, repeat: boolean, args: unknown): number {
    let id = 1;
    for (const k of this.timers.keys()) if (k >= id) id = k + 1; // Espruino: last timer's id + 1
    let delay = ms >= 0 ? ms : 0;
    if (delay > 2147483647) delay = 2147483647;
    const tick = () => {
      if (!repeat) this.timers.delete(id);
      if (this.closed || this.halted) return;
      this.K.fire(fn, args);
    };
    const handle = repeat ? setInterval(tick, Math.max(1, delay)) : setTimeout(tick, delay);
    if (this.closed) { clearTimeout(handle); clearInterval(handle); return id; }
    this.timers.set(id, { fn, args, repeat, handle });
    return id;
  }

  private timerId(id: unknown): number | undefined {
    const n = typeof id === "number" ? id : typeof id === "string" && id.trim() !== "" ? Number(id) : NaN;
    return Number.isFinite(n) ? n : undefined;
  }

  private clearTimer(id: unknown): void {
    const n = this.timerId(id);
    if (n === undefined) return;
    const t = this.timers.get(n);
    if (!t) return; // Espruino ignores unknown ids
    clearTimeout(t.handle); clearInterval(t.handle);
    this.timers.delete(n);
  }

  private clearAllTimers(): void {
    for (const t of this.timers.values()) { clearTimeout(t.handle); clearInterval(t.handle); }
    this.timers.clear();
  }

  private changeInterval(id: unknown, ms: number): boolean {
    const n = this.timerId(id);
    const t = n === undefined ? undefined : this.timers.get(n);
    if (!t || n === undefined) return false;
    clearTimeout(t.handle); clearInterval(t.handle);
    const delay = Math.max(1, ms >= 0 ? ms : 0);
    const tick = () => {
      if (!t.repeat) this.timers.delete(n);
      if (this.closed || this.halted) return;
      this.K.fire(t.fn, t.args);
    };
    t.handle = t.repeat ? setInterval(tick, delay) : setTimeout(tick, delay);
    return true;
  }

  private requestReboot(why = "E.reboot()"): void {
    if (this.halted || this.closed) return;
    this.halted = true; // nothing more runs in this interpreter
    this.print(why + ": restarting");
    this.later(() => {
      this.reset();
      this.wakeReason = "restart";
      this.reboots++;
      this.opts.onReboot?.();
      this.boot();
    }, 20);
  }

  // ------------------------------------------------------------------ deep sleep, watches, I2C

  /** ESP32.deepSleep / ESP8266.deepSleep: power off (RAM, sockets, timers gone; nothing flushed), wake later. */
  private deepSleep(us: number, what: string): void {
    if (this.halted || this.closed) return;
    this.print(`${what}(${us}): deep sleep${us > 0 ? "" : " until reset"} (simulated${this.opts.sleepScale ? `, time x${this.opts.sleepScale}` : ""})`);
    this.trace(`deep sleep ${us} us`);
    this.halted = true;
    this.stopEverything();
    this.sleeps++;
    this.asleep = true;
    try { this.opts.onSleep?.(us); } catch { /* the host's problem */ }
    if (us > 0) {
      const ms = us / 1000 * (this.opts.sleepScale ?? 1);
      this.wakeTimer = setTimeout(() => { this.wakeTimer = undefined; this.wake(); }, Math.min(ms, 2147483647));
    }
  }

  private watchAdd(fn: unknown, pin: string, repeat: boolean, edge: number, debounce: number): number {
    let id = 1;
    while (this.watches.has(id)) id++;
    this.watches.set(id, { fn, pin, repeat, edge, debounce, last: this.pins.levelOf(pin), lastTime: this.uptime() });
    return id;
  }

  private watchClear(id: number): void {
    for (const [k, w] of [...this.watches]) {
      if (id >= 0 && k !== id) continue;
      if (w.timer) clearTimeout(w.timer);
      this.watches.delete(k);
    }
  }

  private pinChanged(pin: string, level: number): void {
    if (this.closed || this.halted) return;
    for (const [id, w] of this.watches) {
      if (w.pin !== pin) continue;
      if (!w.debounce) { this.watchEdge(id, w, level); continue; }
      // Debounced: the edge counts once the level has held for `debounce` ms.
      if (w.timer) clearTimeout(w.timer);
      w.timer = setTimeout(() => { w.timer = undefined; if (!this.closed && !this.halted) this.watchEdge(id, w, this.pins.levelOf(pin)); }, w.debounce);
    }
  }

  private watchEdge(id: number, w: WatchRec, level: number): void {
    if (level === w.last) return;
    const t = this.uptime(), last = w.lastTime;
    w.last = level; w.lastTime = t;
    if (w.edge && (w.edge > 0) !== (level === 1)) return;
    if (!w.repeat) this.watches.delete(id);
    this.K.watchFire(w.fn, level, t, last, w.pin);
  }

  private i2cDevice(sda: string, scl: string, addr: number) {
    const d = this.i2c.device(sda, scl, addr);
    if (!d) throw new Error(`I2C: no ACK from 0x${addr.toString(16)} (nothing at that address on ${sda}/${scl})`);
    return d;
  }

  // ------------------------------------------------------------------ modules

  private compileModule(name: string, src: string, flash: boolean): unknown {
    if (flash) this.flashSources.push(src);
    return vm.runInContext("(function (exports, module) {" + src + "\n})", this.ctx, { filename: name });
  }

  private loadModule(name: string): unknown {
    if (name.length <= MAX_NAME) {
      const src = this.storage.read(name);
      if (src !== undefined) return this.compileModule(name, src, true);
    }
    const m = this.moduleSources.get(name);
    if (m) return this.compileModule(name, m.code, m.flash);
    return undefined;
  }

  // ------------------------------------------------------------------ sockets

  /** Whether a new connection can get out: the access point is up and, when the board manages its
   *  WiFi (see netNeedsWifi), the station is connected. */
  netAvailable(): boolean {
    if (!this.wifi.up) return false;
    const mode = this.opts.netNeedsWifi ?? "auto";
    const strict = mode === true || (mode === "auto" && this.hasWifi && this.wifi.managed);
    return !strict || this.wifi.connected;
  }

  private sockOpen(host: string, port: number, t: any): number {
    const id = ++this.sockSeq;
    const isTls = !!t;
    const rec: SockRec = { id, host, port, tls: isTls, connected: false, closed: false, code: 0, pending: 0, unsent: 0 };
    this.socks.set(id, rec);
    this.socketHistory.push({ id, host, port, opened: Date.now() });
    if (this.socketHistory.length > 100) this.socketHistory.shift();
    if (!this.netAvailable()) {
      this.trace(`socket ${id}: ${host}:${port} refused, no network`);
      this.later(() => this.sockClosed(rec, -4), 5);
      return id;
    }
    let sock: net.Socket;
    if (isTls) {
      const o: tls.ConnectionOptions = { host, port, rejectUnauthorized: t.rejectUnauthorized === true };
      if (t.ca !== undefined) o.ca = toPem(String(t.ca), "CERTIFICATE");
      if (t.cert !== undefined) o.cert = toPem(String(t.cert), "CERTIFICATE");
      if (t.key !== undefined) o.key = toPem(String(t.key), "KEY");
      const sni = t.servername !== undefined ? String(t.servername) : host;
      if (!net.isIP(sni)) o.servername = sni;
      sock = tls.connect(o);
      sock.on("secureConnect", () => this.sockConnected(rec));
    } else {
      sock = net.connect({ host, port });
      sock.on("connect", () => this.sockConnected(rec));
    }
    rec.sock = sock;
    sock.setNoDelay(true);
    this.trace(`socket ${id}: connecting to ${host}:${port}${isTls ? " (tls)" : ""}`);
    const chunk = this.spec.chunk;
    sock.on("data", (buf: Buffer) => {
      if (rec.closed || this.closed) return;
      this.traffic.received += buf.length;
      for (let o = 0; o < buf.length; o += chunk) {
        this.K.sockEvent(id, "data", buf.toString("latin1", o, Math.min(o + chunk, buf.length)));
      }
    });
    sock.on("error", (e: NodeJS.ErrnoException) => {
      if (!rec.code) rec.code = socketErrorCode(e, rec.connected, isTls);
      this.trace(`socket ${id}: ${e.code ?? ""} ${e.message}`);
    });
    sock.on("close", () => this.sockClosed(rec, rec.code));
    return id;
  }

  private history(id: number, what: "connected" | "closed"): void {
    const h = this.socketHistory.find((x) => x.id === id);
    if (h) h[what] = Date.now();
  }

  private sockConnected(rec: SockRec): void {
    if (rec.closed || this.closed) return;
    rec.connected = true;
    this.history(rec.id, "connected");
    this.trace(`socket ${rec.id}: connected`);
    this.K.sockEvent(rec.id, "connect");
  }

  private sockClosed(rec: SockRec, code: number): void {
    if (rec.closed) return;
    rec.closed = true;
    this.socks.delete(rec.id);
    this.history(rec.id, "closed");
    this.trace(`socket ${rec.id}: closed${code ? ` (${code} ${SOCKET_ERRORS[code] ?? ""})` : ""}`);
    if (!this.closed) this.K.sockEvent(rec.id, "close", code);
  }

  private sockWrite(id: number, data: string): void {
    const rec = this.socks.get(id);
    if (!rec || rec.closed) throw new Error("This socket is closed");
    for (let i = 0; i < data.length; i++) {
      if (data.charCodeAt(i) > 255) {
        this.trace(`socket ${id}: write of a character above 255 (code ${data.charCodeAt(i)} at ${i}): sent as its low byte`);
        break;
      }
    }
    if (!rec.sock) return; // failing connection: the data goes nowhere
    this.traffic.sent += data.length;
    rec.pending++;
    rec.unsent += data.length;
    if (rec.unsent > this.traffic.maxUnsent) this.traffic.maxUnsent = rec.unsent;
    rec.sock.write(Buffer.from(data, "latin1"), () => {
      rec.pending--;
      rec.unsent -= data.length;
      if (!rec.pending && !rec.closed && !this.closed) this.K.sockEvent(id, "drain");
    });
  }

  private sockEnd(id: number): void {
    const rec = this.socks.get(id);
    if (!rec || rec.closed) return;
    if (rec.sock) rec.sock.end();
    else this.sockClosed(rec, 0);
  }

  /** Breaks every open socket with an Espruino error code (WiFi lost). */
  private breakSockets(code: number, why: string): void {
    for (const rec of [...this.socks.values()]) {
      this.trace(`socket ${rec.id}: broken (${why})`);
      rec.code = code;
      rec.sock?.destroy();
      this.sockClosed(rec, code);
    }
  }

  // ------------------------------------------------------------------ memory

  private inFlash(fn: Function): boolean {
    let v = this.flashCache.get(fn);
    if (v === undefined) {
      let src = "";
      try { src = Function.prototype.toString.call(fn); } catch { /* native */ }
      v = src.length > 0 && this.flashSources.some((s) => s.includes(src));
      this.flashCache.set(fn, v);
    }
    return v;
  }

  private counter(): VarCounter {
    // native module objects (net, Storage, Wifi...) are built in too, whenever they were created
    const natives: unknown[] = [];
    const mods = this.K.modules, nat = this.K.natives;
    for (const k of Object.keys(mods)) if (Object.prototype.hasOwnProperty.call(nat, k)) natives.push(mods[k]);
    const extra = reachable(natives.filter((m) => !this.baseline.has(m as object)));
    const base = this.baseline;
    return new VarCounter({ baseline: { has: (o) => base.has(o) || extra.has(o) }, inFlash: (fn) => this.inFlash(fn) });
  }

  private countVars(): number {
    const c = this.counter();
    let n = 0;
    for (const name of this.K.globalNames() as string[]) {
      if (this.baselineNames.has(name)) continue;
      const d = Object.getOwnPropertyDescriptor(this.globalObj, name) ?? { value: this.K.globalValue(name) };
      n += c.property(name, d);
    }
    const mods = this.K.modules, nat = this.K.natives;
    for (const k of Object.keys(mods)) {
      if (Object.prototype.hasOwnProperty.call(nat, k)) n += c.object(mods[k]); // listeners only
      else n += c.property(k, { value: mods[k] });
    }
    for (const o of this.K.platformObjects() as object[]) n += c.object(o);
    for (const t of this.timers.values()) n += 5 + c.value(t.fn) + ((t.args as unknown[])?.length ? c.value(t.args) : 0);
    const sockets = this.K.sockets;
    for (const k of Object.keys(sockets)) n += 6 + c.value(sockets[k]);
    return n;
  }
}

/** Where the built bundles are: MOTE_FIRMWARE_DIR, else the repository's firmware/. */
export function firmwareDir(): string {
  return process.env.MOTE_FIRMWARE_DIR ?? path.join(repoRoot(), "firmware");
}

/** The MQTT client's cold parts in `dir`: firmware/mote-mqtt-<part>.js, each a Storage module of that name. */
export function clientParts(dir: string): { name: string; file: string }[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).sort().flatMap((f) => {
    const m = /^(mote-mqtt-[a-z0-9]+)\.js$/.exec(f);
    return m ? [{ name: m[1], file: path.join(dir, f) }] : [];
  });
}
