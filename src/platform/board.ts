// The board side of the device runtime: with net.ts, the only code that touches Storage, the Wifi
// module, pins, sensor drivers and timers. Espruino's own functions are referenced, not wrapped,
// where that works: every wrapper function costs variables on the board.
declare var OneWire: any;
declare var I2C: any;
declare var Modules: { removeCached(name: string): void };

// Storage's functions are the library's own (they do not use `this`): referenced, they cost 3 variables
// each on the board; a wrapper function costs 6-10 (its code, scope and one per parameter).
const S = require("Storage");

export const board = {
  /** A JSON file from Storage; with noExceptions true, undefined when it is missing or not JSON. */
  readJSON: S.readJSON as (name: string, noExceptions?: boolean) => any,
  /**
   * The Wifi module, or undefined where the board has none (Espruino on Linux, a wired board).
   * The built-in module list is asked first: on the 1,600-variable build, requiring a module that
   * does not exist ran out of memory instead of throwing.
   */
  wifi: (): any => {
    const m = process.env.MODULES;
    if (m && m.split(",").indexOf("Wifi") < 0) return undefined;
    try {
      return require("Wifi");
    } catch (e) {
      return undefined;
    }
  },
  /**
   * A driver for sensor s (Espruino's module `name` from Storage): DHT22 or DS18B20 on s.pin, BME280 at
   * s.address (default 0x76) on its own software I2C bus on s.sda/s.scl (sensors on other pins must not
   * share one hardware bus, which has one pair of pins).
   */
  driver: (name: string, s: any): any => {
    const d = require(name), i = name == "BME280" && new I2C();
    if (!i) return d.connect(name == "DS18B20" ? new OneWire(s.pin) : s.pin);
    i.setup({ sda: s.sda, scl: s.scl });
    return d.connect(i, { addr: s.address || 0x76 });
  },
  /** A module from Storage (a feature bundle, firmware/mote-<name>.js) or built in (ESP32, ESP8266 for mote-sleep, crypto). */
  module: require as (name: string) => any,
  /** Lets a module loaded with module() go: require's cache holds its exports until then. */
  forget: Modules.removeCached as (name: string) => void,
  /** A Storage file as a string (undefined when missing), and writing one (features keep small state). */
  readText: S.read as (name: string) => any,
  writeText: S.write as (name: string, data: string, offset?: number, size?: number) => any,
  /** Bytes of Storage free (diagnostics). */
  storageFree: S.getFree as () => number,
  /** Restart the interpreter (the restart button of the Home Assistant feature). */
  reboot: E.reboot as () => void,
  /** Espruino's board name (ESP32, ESP8266_4MB, ...): the device model shown in Home Assistant. */
  model: (): string => process.env.BOARD,
  write: digitalWrite,
  read: digitalRead,
  mode: pinMode,
  watch: setWatch,
  analog: analogRead,
  pwm: analogWrite,
  every: setInterval,
  after: setTimeout,
  cancel: clearTimeout,
  seconds: getTime,
  serial: getSerial,
  temperature: E.getTemperature,
  memory: process.memory,
};
