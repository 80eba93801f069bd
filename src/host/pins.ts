// Simulated GPIO for the host simulator: Espruino's pin semantics (auto/manual modes, PWM, ADC)
// over a table of pin states, plus the host-side controls the tests and `npm start` use.
import type { BoardSpec } from "./board-spec.js";

/** Espruino's pin modes (pinMode). "auto" = not manual: digitalWrite/digitalRead switch the mode. */
export const PIN_MODES = ["analog", "input", "input_pulldown", "input_pullup", "output", "opendrain",
  "opendrain_pullup", "af_output", "af_opendrain", "auto"];

export interface PinState {
  /** Current mode, as getPinMode() reports it ("input" until something else happens). */
  mode: string;
  /** Set by pinMode(pin, mode) with a mode other than "auto": digitalRead/digitalWrite no longer switch it. */
  manual: boolean;
  /** Output latch (0/1). */
  out: number;
  /** PWM duty 0..1 and frequency while analogWrite drives the pin. */
  duty?: number;
  freq?: number;
  /** Level applied from outside (host `pins.set`); undefined = floating. */
  input?: number;
  /** Analog input level 0..1 (host `pins.setAnalog`), or a function returning it. */
  analog?: number | (() => number);
}

/** Called when the level a pin reads changes (an external level, a pull switched on a floating pin). */
export type PinInputListener = (pin: string, level: number) => void;

export type PinWriteListener = (pin: string, value: number, kind: "digital" | "pwm", state: Readonly<PinState>) => void;

export class SimPins {
  private readonly states = new Map<string, PinState>();
  private readonly listeners = new Set<PinWriteListener>();
  private readonly inputListeners = new Set<PinInputListener>();
  private readonly adcSteps: number;

  /** `defaultAnalog(pin)` gives the level of an ADC pin nobody has set (a slowly changing signal). */
  constructor(private readonly spec: BoardSpec, private readonly defaultAnalog: (pin: string) => number, adcBits = 12) {
    this.adcSteps = 1 << adcBits;
    for (const name of Object.keys(spec.pins)) this.states.set(name, { mode: "input", manual: false, out: 0 });
  }

  // ------------------------------------------------------------------ host side (tests, npm start)

  /** Pin names of the board. */
  names(): string[] {
    return [...this.states.keys()];
  }

  /** What the pin outputs: the PWM duty while analogWrite drives it, the latch (0/1) when it is an output,
   *  else the level read on it (external level or pull). */
  get(pin: string): number {
    const s = this.st(pin);
    if (s.mode === "af_output" && s.duty !== undefined) return s.duty;
    if (s.mode === "output" || s.mode === "opendrain" || s.mode === "opendrain_pullup") return s.out;
    return this.level(s);
  }

  /** Applies an external digital level (a button, a sensor output) to the pin; undefined = floating. */
  set(pin: string, v: number | boolean | undefined): void {
    const s = this.st(pin), before = this.level(s);
    s.input = v === undefined ? undefined : (v ? 1 : 0);
    this.changed(pin, before, s);
  }

  /** The level the pin reads as an input (external level, else its pull), without touching its mode. */
  levelOf(pin: string): number {
    return this.level(this.st(pin));
  }

  /** Called whenever the level a pin reads changes (setWatch uses it); returns a function that unsubscribes. */
  onInput(cb: PinInputListener): () => void {
    this.inputListeners.add(cb);
    return () => { this.inputListeners.delete(cb); };
  }

  private changed(pin: string, before: number, s: PinState): void {
    const now = this.level(s);
    if (now === before) return;
    for (const cb of [...this.inputListeners]) {
      try { cb(pin, now); } catch { /* a listener's problem */ }
    }
  }

  /** Sets what analogRead sees (0..1), or a function computing it at each read. */
  setAnalog(pin: string, v: number | (() => number)): void {
    this.st(pin).analog = v;
  }

  /** A copy of the pin's state. */
  state(pin: string): PinState {
    return { ...this.st(pin) };
  }

  private st(pin: string): PinState {
    const s = this.states.get(pin);
    if (!s) throw new Error(`no pin ${pin} on board ${this.spec.id}`);
    return s;
  }

  /** Copies of every pin's state. */
  snapshot(): Record<string, PinState> {
    const o: Record<string, PinState> = {};
    for (const [k, v] of this.states) o[k] = { ...v };
    return o;
  }

  /** Called on every digitalWrite/analogWrite by the board; returns a function that unsubscribes. */
  onWrite(cb: PinWriteListener): () => void {
    this.listeners.add(cb);
    return () => { this.listeners.delete(cb); };
  }

  /** Back to power-on state (keeps external levels and analog sources). */
  reset(): void {
    for (const s of this.states.values()) {
      s.mode = "input"; s.manual = false; s.out = 0; delete s.duty; delete s.freq;
    }
  }

  // ------------------------------------------------------------------ board side (bridge)

  valid(pin: string): boolean {
    return this.states.has(pin);
  }

  capabilities(pin: string): string[] {
    return this.spec.pins[pin] ?? [];
  }

  private level(s: PinState): number {
    if (s.input !== undefined) return s.input;
    return s.mode === "input_pullup" || s.mode === "opendrain_pullup" ? 1 : 0;
  }

  private notify(pin: string, value: number, kind: "digital" | "pwm", s: PinState): void {
    for (const cb of [...this.listeners]) {
      try { cb(pin, value, kind, { ...s }); } catch { /* a host listener's problem, not the board's */ }
    }
  }

  /** digitalWrite: sets the latch; an auto pin becomes an output. */
  write(pin: string, v: number): void {
    const s = this.st(pin);
    s.out = v ? 1 : 0;
    delete s.duty; delete s.freq;
    if (!s.manual || s.mode === "af_output") s.mode = "output";
    this.notify(pin, s.out, "digital", s);
  }

  /** digitalRead: an auto pin becomes an input first (as on Espruino: reading an auto output drops it). */
  read(pin: string): number {
    const s = this.st(pin);
    if (!s.manual) { s.mode = "input"; delete s.duty; }
    if (s.mode === "output" || s.mode === "opendrain") return s.out;
    return this.level(s);
  }

  /** The latch, without touching the mode (Pin.toggle uses it). */
  latch(pin: string): number {
    return this.st(pin).out;
  }

  setMode(pin: string, mode: string | undefined): void {
    const s = this.st(pin), before = this.level(s);
    if (mode === undefined || mode === "auto") { s.manual = false; return; }
    s.mode = mode; s.manual = true;
    if (mode !== "af_output") { delete s.duty; delete s.freq; }
    this.changed(pin, before, s);
  }

  getMode(pin: string): string {
    return this.st(pin).mode;
  }

  /** analogRead: NaN on a pin without ADC (as Espruino on ESP32/ESP8266), quantised to the ADC resolution. */
  analogRead(pin: string): number {
    const s = this.st(pin);
    if (!this.capabilities(pin).includes("adc")) return NaN;
    if (!s.manual) s.mode = "analog";
    const src = s.analog;
    let v = typeof src === "function" ? src() : typeof src === "number" ? src : this.defaultAnalog(pin);
    if (!(v >= 0)) v = 0;
    if (v > 1) v = 1;
    return Math.round(v * (this.adcSteps - 1)) / this.adcSteps;
  }

  /** analogWrite: PWM duty (clipped to 0..1) and frequency. */
  analogWrite(pin: string, v: number, freq: number | undefined): void {
    const s = this.st(pin);
    let d = Number(v);
    if (!(d >= 0)) d = 0;
    if (d > 1) d = 1;
    s.duty = d;
    s.freq = freq;
    s.mode = "af_output";
    this.notify(pin, d, "pwm", s);
  }
}
