// The board side of the device runtime: with net.ts, the only code that touches Storage, the Wifi
// module, pins, sensor drivers and timers. Espruino's own functions are referenced, not wrapped,
// where that works: every wrapper function costs variables on the board.
declare var OneWire: any;

export const board = {
  /** A JSON file from Storage, or undefined when it is missing or not JSON. */
  readJSON: (name: string): any => require("Storage").readJSON(name, true),
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
  /** A DHT22 or DS18B20 driver on `pin` (Espruino's modules of those names, from Storage). */
  driver: (name: string, pin: Pin): any => require(name).connect(name == "DS18B20" ? new OneWire(pin) : pin),
  /** A module from Storage (a feature bundle, firmware/mote-<name>.js) or built in (Storage, crypto). */
  module: (name: string): any => require(name),
  /** Lets a module loaded with module() go: its exports are freed once nothing else holds them. */
  forget: (name: string): void => Modules.removeCached(name),
  /** A Storage file as a string (undefined when missing), and writing one (features keep small state). */
  readText: (name: string): any => require("Storage").read(name),
  writeText: (name: string, data: string): any => require("Storage").write(name, data),
  /** Bytes of Storage free (diagnostics). */
  storageFree: (): number => require("Storage").getFree(),
  /** Restart the interpreter (the restart button of the Home Assistant feature). */
  reboot: (): void => E.reboot(),
  /** Espruino's board name (ESP32, ESP8266_4MB, ...): the device model shown in Home Assistant. */
  model: (): string => process.env.BOARD,
  write: digitalWrite,
  read: digitalRead,
  analog: analogRead,
  pwm: analogWrite,
  every: setInterval,
  after: setTimeout,
  seconds: getTime,
  serial: getSerial,
  temperature: E.getTemperature,
  memory: process.memory,
};
