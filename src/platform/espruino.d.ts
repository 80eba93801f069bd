// Espruino platform surface that @types/espruino 1.95.0 lacks or types too loosely.
// Global (no import/export), picked up by tsconfig.json (firmware code) only; the host
// tsconfig never sees it. Checked against the Espruino 2v29 reference, i.e. the JSON
// blocks in src/jswrap_*.c and libs/network/jswrap_net.c of espruino/Espruino.
//
// Only what CONTRACT.md's "platform surface" lists is declared here; anything else
// on the board is better reached through the platform modules (src/platform/).

// ---------------------------------------------------------------- events on every object
// Object.on/emit/removeListener/removeAllListeners are built into every object on
// Espruino (jswrap_object.c). emit QUEUES the handlers: they run after the current code.
interface Object {
  on(event: string, listener: (...args: any[]) => void): void;
  addListener(event: string, listener: (...args: any[]) => void): void;
  prependListener(event: string, listener: (...args: any[]) => void): void;
  emit(event: string, ...args: any[]): void;
  removeListener(event: string, listener: (...args: any[]) => void): void;
  removeAllListeners(event?: string): void;
}

// ---------------------------------------------------------------- timers, time, console
/** Timer ids are numbers on Espruino. */
type TimeoutId = number;
/**
 * Runs fn once after `timeout` ms (float). NB: clearTimeout() with NO argument clears
 * every timer on the board, and clearTimeout(undefined) throws: always pass an id.
 */
declare function setTimeout(fn: Function | string, timeout: number, ...args: any[]): TimeoutId;
declare function setInterval(fn: Function | string, timeout: number, ...args: any[]): TimeoutId;
// @types/espruino declares clearTimeout/clearInterval(id: any); this narrower overload documents intent.
declare function clearTimeout(id: TimeoutId): void;
declare function clearInterval(id: TimeoutId): void;
// getTime(): number (seconds since 1970, float) and getSerial() are in @types/espruino.

declare var console: {
  log(...args: any[]): void;
  debug(...args: any[]): void;
  info(...args: any[]): void;
  warn(...args: any[]): void;
  error(...args: any[]): void;
  trace(text?: any): void;
};

// ---------------------------------------------------------------- process
/** process.memory(): sizes are in variables (JsVars), not bytes. */
interface EspruinoMemory {
  free: number;
  usage: number;
  total: number;
  history: number;
  gc?: number;
  gctime?: number;
  blocksize?: number;
  [key: string]: any;
}
declare var process: {
  /** Runs a garbage collection first unless gc === false. */
  memory(gc?: boolean): EspruinoMemory;
  env: { VERSION: string; BOARD: string; GIT_COMMIT?: string; RAM?: number; FLASH?: number; [key: string]: any };
  version: string;
};

// ---------------------------------------------------------------- E (additions to @types' namespace E)
interface VariableSizeInformation {
  name: string;
  size: number;
  more?: VariableSizeInformation[];
}
declare namespace E {
  /** Number of variables (JsVars) used by v; with depth > 0, a breakdown per property. */
  function getSizeOf(v: any, depth?: 0): number;
  function getSizeOf(v: any, depth: number): VariableSizeInformation[];
  /** Binary string from numbers, strings, arrays, ArrayBuffers, Uint8Arrays or {data,count}. */
  function toString(...args: any[]): string;
  function toUint8Array(...args: any[]): Uint8Array;
  /** Hardware reset. */
  function reboot(): void;
  function getTemperature(internal?: boolean): number;
  function enableWatchdog(timeout: number, isAuto?: boolean): void;
  function getErrorFlags(): string[];
  function lookupNoCase(haystack: object, needle: string, returnKey?: boolean): any;
  /** Events: "init" (boot), "kill" (before reset/save), "errorFlag". */
  function on(event: "init" | "kill", callback: () => void): void;
  function on(event: "errorFlag", callback: (errorFlags: string[]) => void): void;
  function isUTF8(str: string): boolean;
  function asUTF8(str: string): string;
  function fromUTF8(str: string): string;
}

// ---------------------------------------------------------------- pins
/** Pins can be given as Pin objects (D2, LED1), names ("D2") or numbers. */
type PinLike = Pin | string | number;
type PinMode = "analog" | "input" | "input_pullup" | "input_pulldown" | "output" | "opendrain" | "af_output" |
  "af_opendrain" | "opendrain_pullup";
declare var LED1: Pin;
/** ESP8266's analog input. */
declare var A0: Pin;
declare function digitalWrite(pin: PinLike | PinLike[], value: number | boolean): void;
declare function digitalRead(pin: PinLike | PinLike[]): number;
/** 0..1 */
declare function analogRead(pin: PinLike): number;
/** value 0..1 */
declare function analogWrite(pin: PinLike, value: number, options?: { freq?: number; soft?: boolean; forceSoft?: boolean }): void;
declare function pinMode(pin: PinLike, mode?: PinMode | "auto", automatic?: boolean): void;

// ---------------------------------------------------------------- sockets: require("net"), require("tls")
/** An Espruino net/tls socket. Events (via on): "connect", "data" (binary string), "end", "close", "error" ({message}), "drain". */
interface Socket {
  /** data: a binary string (or bytes); returns false when the send buffer is full. */
  write(data: string | Uint8Array | ArrayBuffer | number[]): boolean;
  end(): void;
}
interface NetConnectOptions {
  host: string;
  port: number;
  [key: string]: any;
}
interface TlsConnectOptions extends NetConnectOptions {
  /** decoded (atob) certificate contents, a filename, or a function returning the data */
  ca?: string;
  cert?: string;
  key?: string;
}
interface NetModule {
  connect(options: NetConnectOptions | string, callback?: (socket: Socket) => void): Socket;
  createServer(callback: (socket: Socket) => void): Server;
}
/** Only on builds with TLS (ESP32); require("tls") throws on ESP8266. */
interface TlsModule {
  connect(options: TlsConnectOptions | string, callback?: (socket: Socket) => void): Socket;
}

// ---------------------------------------------------------------- require("Storage")
interface StorageFile {
  read(len: number): string | undefined;
  readLine(): string | undefined;
  getLength(): number;
  write(data: string): void;
  erase(): void;
}
interface StorageModule {
  /** A memory-mapped string (no RAM used), or undefined when the file does not exist. */
  read(name: string, offset?: number, length?: number): string | undefined;
  /** Parsed JSON; with noExceptions, undefined instead of throwing on a missing/invalid file. */
  readJSON(name: string, noExceptions?: boolean): any;
  readArrayBuffer(name: string): ArrayBuffer | undefined;
  /** Names are at most 28 characters. offset/size write a file in parts (size = total on the first write). */
  write(name: string, data: string | ArrayBuffer | ArrayBufferView | number[] | object, offset?: number, size?: number): boolean;
  writeJSON(name: string, data: any): boolean;
  erase(name: string): void;
  eraseAll(): void;
  list(regex?: RegExp | string, filter?: { sf: boolean }): string[];
  getFree(checkInternalFlash?: boolean): number;
  getStats(): { totalBytes: number; freeBytes: number; fileBytes: number; fileCount: number; trashBytes: number; trashCount: number };
  compact(showMessage?: boolean): void;
  hash(regex?: RegExp): number;
  open(name: string, mode: "r" | "w" | "a"): StorageFile;
}

// ---------------------------------------------------------------- ESP32 (absent from @types/espruino)
declare namespace ESP32 {
  /** { sdkVersion, freeHeap, BLE, Wifi, minHeap } */
  function getState(): { sdkVersion: string; freeHeap: number; BLE: boolean; Wifi: boolean; minHeap: number };
  function reboot(): void;
  function deepSleep(us: number): void;
  function setAtten(pin: PinLike, atten: number): void;
  function enableWifi(enable: boolean): void;
  function enableBLE(enable: boolean): void;
  function getWakeupCause(): number;
}

// ---------------------------------------------------------------- Wifi (additions to @types' module)
declare module "Wifi" {
  function disconnect(callback?: () => void): void;
}

// ---------------------------------------------------------------- require
declare function require(module: "net"): NetModule;
declare function require(module: "tls"): TlsModule;
declare function require(module: "Storage"): StorageModule;
declare function require(module: "Wifi"): typeof import("Wifi");
declare function require(module: "ESP8266"): typeof ESP8266;
declare function require(module: "ESP32"): typeof ESP32;
/** Any other module: built in, or a Storage file of that name (e.g. "mote-mqtt"). */
declare function require(module: string): any;
