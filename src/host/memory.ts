// Host approximation of Espruino's memory accounting (JsVars), for process.memory() and E.getSizeOf()
// in the simulator. Espruino stores every value, property name and piece of string in fixed-size
// variables (14 bytes with 12-bit references on ESP32/ESP8266): a name holds 4 characters inline, a
// string 9 in its first variable and 10 in each extension; small integers and booleans live inside
// the property's name variable. The walk below applies those rules to the objects reachable from the
// board's globals, module cache, timers and sockets.
//
// Limits: V8 hides closure scopes, so variables captured by closures (module-level `var`s inside a
// module's function wrapper, for instance) are not counted; use the real interpreter (bench with
// ESPRUINO=...) for figures to quote.

const NAME_INLINE = 4;
const STRING_FIRST = 9;
const STRING_EXT = 10;

export function nameCost(key: string): number {
  return 1 + (key.length > NAME_INLINE ? Math.ceil((key.length - NAME_INLINE) / STRING_EXT) : 0);
}

export function stringCost(len: number): number {
  return 1 + (len > STRING_FIRST ? Math.ceil((len - STRING_FIRST) / STRING_EXT) : 0);
}

/** Objects (and functions) reachable from `roots` through own properties (values and accessors) and
 *  prototypes, leaving out listener properties ("#on<event>", which belong to the code that added them). */
export function reachable(roots: unknown[], into: Set<object> = new Set()): Set<object> {
  const stack: unknown[] = [...roots];
  while (stack.length) {
    const v = stack.pop();
    if (v === null || (typeof v !== "object" && typeof v !== "function")) continue;
    const o = v as object;
    if (into.has(o)) continue;
    into.add(o);
    let names: string[];
    try { names = Object.getOwnPropertyNames(o); } catch { continue; }
    for (const k of names) {
      if (k.startsWith("#on")) continue;
      let d: PropertyDescriptor | undefined;
      try { d = Object.getOwnPropertyDescriptor(o, k); } catch { continue; }
      if (!d) continue;
      if ("value" in d) stack.push(d.value);
      if (d.get) stack.push(d.get);
      if (d.set) stack.push(d.set);
    }
    try { stack.push(Object.getPrototypeOf(o)); } catch { /* exotic */ }
  }
  return into;
}

export interface CounterOptions {
  /** Built-in objects of the board (not counted, but their "#on..." listener properties are). */
  baseline: { has(o: object): boolean };
  /** True when the function's code is kept in flash (code loaded from Storage): no RAM for its text. */
  inFlash: (fn: Function) => boolean;
  /** Stop after this many objects (safety net). */
  maxObjects?: number;
}

/** Counts JsVars over a graph, each object once (shared between calls on the same counter). */
export class VarCounter {
  private readonly seen = new Set<object>();
  private objects = 0;

  constructor(private readonly opts: CounterOptions) {}

  /** Variables a property value costs beyond its name variable. */
  value(v: unknown): number {
    switch (typeof v) {
      case "undefined": return 0;
      case "boolean": return 0;
      case "number": return Number.isInteger(v) && (v as number) >= -2147483648 && (v as number) <= 2147483647 ? 0 : 1;
      case "string": return stringCost((v as string).length);
      case "bigint": return 1;
      case "symbol": return 1;
      default: return v === null ? 1 : this.object(v as object);
    }
  }

  /** A property: its name plus its value. */
  property(key: string, d: PropertyDescriptor): number {
    let n = nameCost(key);
    if ("value" in d) n += this.value(d.value);
    else n += 1 + (d.get ? this.object(d.get) : 0) + (d.set ? this.object(d.set) : 0);
    return n;
  }

  /** An object's own variables (0 when already counted or built in, except its listener properties). */
  object(o: object): number {
    if (this.seen.has(o)) return 0;
    this.seen.add(o);
    if (this.opts.baseline.has(o)) return this.listeners(o);
    if (++this.objects > (this.opts.maxObjects ?? 200000)) return 0;
    let n = 1;
    if (typeof o === "function") n += this.functionCode(o as Function);
    if (ArrayBuffer.isView(o)) {
      const buf = (o as ArrayBufferView).buffer;
      if (!this.seen.has(buf)) { this.seen.add(buf); n += stringCost((buf as ArrayBuffer).byteLength); }
      return n;
    }
    if (o instanceof Date || Object.prototype.toString.call(o) === "[object Date]") return n + 1;
    if (Object.prototype.toString.call(o) === "[object ArrayBuffer]") return n + stringCost((o as ArrayBuffer).byteLength);
    if (Object.prototype.toString.call(o) === "[object RegExp]") return n + stringCost(String((o as RegExp).source).length);
    if (Object.prototype.toString.call(o) === "[object Promise]") return n + 3;
    let names: string[];
    try { names = Object.getOwnPropertyNames(o); } catch { return n; }
    const isFn = typeof o === "function";
    const isErr = Object.prototype.toString.call(o) === "[object Error]";
    for (const k of names) {
      if (isFn && (k === "length" || k === "name" || k === "arguments" || k === "caller")) continue;
      if (isErr && k === "stack") continue;
      if (Array.isArray(o) && k === "length") continue;
      let d: PropertyDescriptor | undefined;
      try { d = Object.getOwnPropertyDescriptor(o, k); } catch { continue; }
      if (!d) continue;
      if (isFn && k === "prototype") {
        // Espruino creates a function's prototype only when it is used (classes, `new`)
        const p = d.value as object | undefined;
        if (p && typeof p === "object" && !this.opts.baseline.has(p)) {
          const own = Object.getOwnPropertyNames(p).filter((x) => x !== "constructor");
          if (own.length) n += nameCost(k) + this.object(p);
          else this.seen.add(p);
        }
        continue;
      }
      if (k === "constructor" && !isFn && typeof d.value === "function") {
        // a class prototype's back link: one name variable pointing at the (separately counted) class
        n += nameCost(k);
        continue;
      }
      n += this.property(k, d);
    }
    let proto: object | null = null;
    try { proto = Object.getPrototypeOf(o); } catch { /* exotic */ }
    if (proto && !this.opts.baseline.has(proto)) n += nameCost("__proto__") + this.object(proto);
    return n;
  }

  /** Listener arrays ("#on<event>") stored on a built-in object. */
  private listeners(o: object): number {
    let n = 0;
    let names: string[];
    try { names = Object.getOwnPropertyNames(o); } catch { return 0; }
    for (const k of names) {
      if (!k.startsWith("#on")) continue;
      const d = Object.getOwnPropertyDescriptor(o, k);
      if (d) n += this.property(k, d);
    }
    return n;
  }

  private functionCode(fn: Function): number {
    // function variable + code name + scope link; the code text costs RAM only when it is not in flash
    let src = "";
    try { src = Function.prototype.toString.call(fn); } catch { /* native */ }
    if (/\{\s*\[native code\]\s*\}$/.test(src)) return 0;
    if (this.opts.inFlash(fn)) return 3;
    return 2 + stringCost(Math.ceil(src.length * 0.6));
  }
}
