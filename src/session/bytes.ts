// A message as bytes, for the cold parts (will, password, and the publishes the resident
// client does not convert itself: text beyond Latin-1 on a Unicode build, byte arrays, others).
import { BYTES, toUtf8 } from "../protocol/utf8.js";

/** A message as bytes: binary strings as they are, text beyond Latin-1 as UTF-8, byte arrays by value. */
export function toBytes(m: unknown): string {
  if (typeof m == "string") return BYTES || !/[^\x00-\xff]/.test(m) ? m : toUtf8(m) || "";
  if (m == undefined) return "";
  if (m instanceof ArrayBuffer) m = new Uint8Array(m);
  if (typeof m == "object" && typeof (m as ArrayLike<number>).length == "number") {
    // In slices: Espruino's apply() takes at most 256 arguments. Typed arrays slice as views.
    const a = m as { length: number; subarray?: Function; slice: Function };
    let s = "";
    for (let i = 0; i < a.length; i += 256) {
      // Espruino's subarray does not clamp its end to the length: clamp here.
      s += String.fromCharCode.apply(null, (a.subarray || a.slice).call(a, i, Math.min(i + 256, a.length)));
    }
    return s;
  }
  return String(m);
}
