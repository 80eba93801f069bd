// Simulated I2C devices for the host simulator: a bus is the pair of pins it is set up on (sda, scl);
// a device answers at its 7-bit address on that bus, register by register, as the chip does: a write
// sets the register pointer (first byte) and writes the bytes after it to successive registers; a read
// returns bytes from the pointer on, incrementing it.
//
// BME280 (Bosch; datasheet BST-BME280-DS002, sections 5 and 8.1): chip id 0x60 at 0xD0, reset 0xE0,
// calibration words at 0x88..0xA1 and 0xE1..0xE7, ctrl_hum 0xF2, status 0xF3, ctrl_meas 0xF4, config
// 0xF5, data 0xF7..0xFE (pressure, temperature 20 bits, humidity 16 bits). The raw values are those
// which the datasheet's compensation formulas, with this chip's calibration, turn into the reading the
// host set (found by bisection: each formula is monotonic in its raw value). Sleep mode (ctrl_meas mode
// 0) answers the last measurement, as the chip keeps it.

/** What a BME280 measures: °C, %RH, hPa. */
export interface Bme280Reading { temp: number; rh: number; pressure: number }

// Calibration of the simulated chip: the datasheet's example values for T and P, plausible ones for H.
const CAL = { T1: 27504, T2: 26435, T3: -1000, P1: 36477, P2: -10685, P3: 3024, P4: 2855, P5: 140, P6: -7, P7: 15500,
  P8: -14600, P9: 6000, H1: 75, H2: 362, H3: 0, H4: 313, H5: 50, H6: 30 };

/** The datasheet's floating-point compensation (section 8.1): raw values -> °C, Pa, %RH. */
export function bme280Compensate(c: typeof CAL, adcT: number, adcP: number, adcH: number): { temp: number; pa: number; rh: number; tFine: number } {
  let v1 = (adcT / 16384 - c.T1 / 1024) * c.T2;
  let v2 = (adcT / 131072 - c.T1 / 8192) ** 2 * c.T3;
  const tFine = v1 + v2, temp = tFine / 5120;
  v1 = tFine / 2 - 64000;
  v2 = v1 * v1 * c.P6 / 32768 + v1 * c.P5 * 2;
  v2 = v2 / 4 + c.P4 * 65536;
  v1 = (c.P3 * v1 * v1 / 524288 + c.P2 * v1) / 524288;
  v1 = (1 + v1 / 32768) * c.P1;
  let pa = 0;
  if (v1 !== 0) {
    pa = (1048576 - adcP - v2 / 4096) * 6250 / v1;
    pa += (c.P9 * pa * pa / 2147483648 + pa * c.P8 / 32768 + c.P7) / 16;
  }
  let h = tFine - 76800;
  h = (adcH - (c.H4 * 64 + c.H5 / 16384 * h)) * (c.H2 / 65536 * (1 + c.H6 / 67108864 * h * (1 + c.H3 / 67108864 * h)));
  h = h * (1 - c.H1 * h / 524288);
  return { temp, pa, rh: Math.min(100, Math.max(0, h)), tFine };
}

/** The raw value in lo..hi whose f() is nearest to want, f monotonic (rising or falling). */
function bisect(f: (x: number) => number, want: number, lo: number, hi: number): number {
  const rising = f(hi) > f(lo);
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if ((f(mid) < want) === rising) lo = mid; else hi = mid;
  }
  return Math.abs(f(lo) - want) <= Math.abs(f(hi) - want) ? lo : hi;
}

export interface I2cDevice {
  write(bytes: number[]): void;
  read(n: number): number[];
}

export class SimBme280 implements I2cDevice {
  private readonly regs = new Uint8Array(256);
  private ptr = 0;
  /** Fails every transfer (no ACK: unplugged, broken wiring) while true. */
  failing = false;

  constructor(private source: () => Bme280Reading) {
    this.reset();
  }

  /** Fixes what it measures, or a function computing it. */
  set(v: Bme280Reading | (() => Bme280Reading)): void {
    this.source = typeof v === "function" ? v : () => v;
  }

  private reset(): void {
    const r = this.regs, c = CAL;
    r.fill(0);
    r[0xd0] = 0x60;
    const words = [c.T1, c.T2, c.T3, c.P1, c.P2, c.P3, c.P4, c.P5, c.P6, c.P7, c.P8, c.P9];
    words.forEach((w, i) => { r[0x88 + 2 * i] = w & 255; r[0x89 + 2 * i] = (w >> 8) & 255; });
    r[0xa1] = c.H1;
    r[0xe1] = c.H2 & 255; r[0xe2] = (c.H2 >> 8) & 255; r[0xe3] = c.H3;
    r[0xe4] = c.H4 >> 4; r[0xe5] = (c.H4 & 15) | ((c.H5 & 15) << 4); r[0xe6] = c.H5 >> 4; r[0xe7] = c.H6 & 255;
    this.measure();
  }

  /** Puts the raw values of the present reading into the data registers. */
  private measure(): void {
    const v = this.source(), c = CAL;
    const adcT = bisect((x) => bme280Compensate(c, x, 0, 0).temp, v.temp, 0, (1 << 20) - 1);
    const adcP = bisect((x) => bme280Compensate(c, adcT, x, 0).pa, v.pressure * 100, 0, (1 << 20) - 1);
    const adcH = bisect((x) => bme280Compensate(c, adcT, 0, x).rh, v.rh, 0, 65535);
    const r = this.regs;
    r[0xf7] = adcP >> 12; r[0xf8] = (adcP >> 4) & 255; r[0xf9] = (adcP & 15) << 4;
    r[0xfa] = adcT >> 12; r[0xfb] = (adcT >> 4) & 255; r[0xfc] = (adcT & 15) << 4;
    r[0xfd] = adcH >> 8; r[0xfe] = adcH & 255;
  }

  write(bytes: number[]): void {
    if (this.failing) throw new Error("I2C: no ACK");
    if (!bytes.length) return;
    this.ptr = bytes[0];
    for (let i = 1; i < bytes.length; i++) {
      const reg = (this.ptr + i - 1) & 255, b = bytes[i];
      if (reg === 0xe0 && b === 0xb6) this.reset();
      else if (reg === 0xf2 || reg === 0xf4 || reg === 0xf5) this.regs[reg] = b;
    }
  }

  read(n: number): number[] {
    if (this.failing) throw new Error("I2C: no ACK");
    // A burst read from the data registers gets a fresh measurement (normal or forced mode).
    if (this.ptr === 0xf7 && (this.regs[0xf4] & 3)) this.measure();
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(this.regs[(this.ptr + i) & 255]);
    this.ptr = (this.ptr + n) & 255;
    return out;
  }
}

/** The I2C devices wired to the board: by bus pins and address. */
export class SimI2c {
  private readonly devices = new Map<string, I2cDevice>();

  private static key(sda: string, scl: string, address: number): string {
    return `${sda}/${scl}@${address}`;
  }

  /** Wires `dev` at `address` to the bus on pins sda/scl; returns it. */
  attach<T extends I2cDevice>(sda: string, scl: string, address: number, dev: T): T {
    this.devices.set(SimI2c.key(sda, scl, address), dev);
    return dev;
  }

  detach(sda: string, scl: string, address: number): void {
    this.devices.delete(SimI2c.key(sda, scl, address));
  }

  device(sda: string, scl: string, address: number): I2cDevice | undefined {
    return this.devices.get(SimI2c.key(sda, scl, address));
  }
}
