// Simulated physical world for the host simulator: slowly changing, plausible readings for the
// DHT22 / DS18B20 modules, ADC pins, the chip's temperature and the WiFi signal, with host-side
// overrides and failure switches.

export interface DhtReading { temp: number; rh: number }

type Source<T> = T | (() => T);

/** Delays (ms) of the simulated sensor modules. Real values by default; tests may shorten them. */
export interface SensorTiming {
  /** DHT22 read that succeeds (the module samples for 50 ms). */
  dht22: number;
  /** DHT22 read that fails: the module retries 10 times, 550 ms apart, before reporting the error. */
  dht22Fail: number;
  /** DS18B20 conversion at 12-bit resolution (halved per bit below). */
  ds18b20: number;
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
  return (h >>> 0) / 4294967296;
}

/** A smooth wave in -1..1 made of two sines whose phases depend on `key`, plus a little noise. */
function wave(key: string, t: number, period: number): number {
  const p = hash(key) * 2 * Math.PI;
  const q = hash(key + "#") * 2 * Math.PI;
  return 0.75 * Math.sin(2 * Math.PI * t / period + p) + 0.25 * Math.sin(2 * Math.PI * t / (period / 7.3) + q);
}

export class SimSensors {
  readonly timing: SensorTiming = { dht22: 55, dht22Fail: 5000, ds18b20: 750 };
  private readonly dhtOver = new Map<string, Source<Partial<DhtReading>>>();
  private readonly dsOver = new Map<string, Source<number>>();
  private readonly failing = new Set<string>();
  private readonly absent = new Set<string>();
  private temperatureOver?: Source<number>;
  private rssiOver?: Source<number>;

  /** `clock()` gives the board's uptime in seconds. */
  constructor(private readonly clock: () => number) {}

  /** Fixes what a DHT22 on `pin` reads (temp in °C, rh in %), or a function computing it. */
  setDht22(pin: string, v: Source<Partial<DhtReading>>): void {
    this.dhtOver.set(pin, v);
  }

  /** Fixes what a DS18B20 on `pin` reads (°C), or a function computing it. */
  setDs18b20(pin: string, v: Source<number>): void {
    this.dsOver.set(pin, v);
  }

  /** Makes every sensor on `pin` fail (DHT22: timeout error; DS18B20: null reading), or work again. */
  fail(pin: string, failing = true): void {
    if (failing) this.failing.add(pin); else this.failing.delete(pin);
  }

  /** Removes the DS18B20 from the 1-Wire bus on `pin` (OneWire.search finds nothing), or puts it back. */
  unplug(pin: string, absent = true): void {
    if (absent) this.absent.add(pin); else this.absent.delete(pin);
  }

  isFailing(pin: string): boolean {
    return this.failing.has(pin);
  }

  /** Fixes E.getTemperature() (°C). */
  setTemperature(v: Source<number>): void {
    this.temperatureOver = v;
  }

  /** Fixes the WiFi RSSI (dBm). */
  setRssi(v: Source<number>): void {
    this.rssiOver = v;
  }

  /** Clears every override and failure. */
  clear(): void {
    this.dhtOver.clear(); this.dsOver.clear(); this.failing.clear(); this.absent.clear();
    this.temperatureOver = undefined; this.rssiOver = undefined;
  }

  // ------------------------------------------------------------------ readings

  private static val<T>(s: Source<T>): T {
    return typeof s === "function" ? (s as () => T)() : s;
  }

  /** Room climate: about 21.5 °C ± 2 over ~15 min, 48 % ± 7 over ~20 min; null when failing. */
  dht22(pin: string): DhtReading | null {
    if (this.failing.has(pin)) return null;
    const t = this.clock();
    const o = this.dhtOver.has(pin) ? SimSensors.val(this.dhtOver.get(pin)!) : {};
    const temp = o.temp ?? 21.5 + 2 * wave("dht-t" + pin, t, 900) + (Math.random() - 0.5) * 0.1;
    const rh = o.rh ?? 48 + 7 * wave("dht-h" + pin, t, 1200) + (Math.random() - 0.5) * 0.4;
    return { temp: Math.round(temp * 10) / 10, rh: Math.round(Math.min(100, Math.max(0, rh)) * 10) / 10 };
  }

  /** About 19 °C ± 1.5 over ~12 min at the given resolution; null when failing. */
  ds18b20(pin: string, bits = 12): number | null {
    if (this.failing.has(pin) || this.absent.has(pin)) return null;
    const t = this.clock();
    const v = this.dsOver.has(pin) ? SimSensors.val(this.dsOver.get(pin)!)
      : 19 + 1.5 * wave("ds" + pin, t, 720) + (Math.random() - 0.5) * 0.05;
    const step = 1 / (1 << (bits - 8));
    return Math.round(v / step) * step;
  }

  ds18b20Present(pin: string): boolean {
    return !this.absent.has(pin);
  }

  /** An ADC pin nobody set: 0.45 ± 0.2 over ~5 min, with a little noise. */
  analog(pin: string): number {
    const t = this.clock();
    return 0.45 + 0.2 * wave("adc" + pin, t, 300) + (Math.random() - 0.5) * 0.01;
  }

  /** The chip's own temperature: about 48 °C, warming a little over the first minutes. */
  temperature(): number {
    if (this.temperatureOver !== undefined) return SimSensors.val(this.temperatureOver);
    const t = this.clock();
    return Math.round((44 + 6 * (1 - Math.exp(-t / 300)) + 0.8 * wave("chip", t, 600)) * 10) / 10;
  }

  /** WiFi signal: about -58 dBm ± 6. */
  rssi(): number {
    if (this.rssiOver !== undefined) return Math.round(SimSensors.val(this.rssiOver));
    return Math.round(-58 + 6 * wave("rssi", this.clock(), 240) + (Math.random() - 0.5) * 2);
  }
}
