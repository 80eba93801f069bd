// UTF-8 between JS text and binary strings (one char per byte, 0..255), which is
// how Espruino sockets carry bytes. MQTT strings (topics, client id, user name)
// must be well-formed UTF-8 without U+0000 [MQTT-1.5.3-1, MQTT-1.5.3-2]:
// decoding answers `undefined` for anything a peer must not send.

/**
 * True where strings are bytes: Espruino built without Unicode support (the
 * ESP32 and ESP8266 firmware), where "é" in the source already is its two
 * UTF-8 bytes and "\u0100" cannot be held. There text goes out as it is once
 * it checks out as well-formed UTF-8, and comes in as it came; encoding it
 * again would send "Ã©" for "é".
 */
// (Asked through JSON.parse: the bundle itself holds only 8-bit string literals, and
// String.fromCharCode keeps 8 bits on both kinds of build.)
export const BYTES = JSON.parse('"\\u0100"').charCodeAt(0) != 0x100;

// Plain ASCII without NUL is the common case and is its own encoding. The
// pattern is written out in each function: a module-level RegExp would hold
// eleven variables on the board for as long as the module is loaded.

/** JS text -> UTF-8 bytes; undefined if it holds a lone surrogate (not text). */
export function toUtf8(text: string): string | undefined {
  if (/^[\x01-\x7f]*$/.test(text)) return text;
  if (BYTES) return fromUtf8(text) == undefined ? undefined : text;
  let out = "";
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c < 0xe000) {
      const lo = text.charCodeAt(i + 1);
      // A high surrogate must be followed by a low one; anything else is not text.
      if (c > 0xdbff || !(lo >= 0xdc00 && lo < 0xe000)) return undefined;
      c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
      i++;
    }
    out += c < 0x80 ? String.fromCharCode(c)
      : c < 0x800 ? String.fromCharCode(0xc0 | c >> 6, 0x80 | c & 63)
      : c < 0x10000 ? String.fromCharCode(0xe0 | c >> 12, 0x80 | c >> 6 & 63, 0x80 | c & 63)
      : String.fromCharCode(0xf0 | c >> 18, 0x80 | c >> 12 & 63, 0x80 | c >> 6 & 63, 0x80 | c & 63);
  }
  return out;
}

/**
 * UTF-8 bytes -> JS text (where strings are bytes: the bytes, checked);
 * undefined if ill-formed (bad or missing continuation
 * bytes, overlong forms, surrogates, > U+10FFFF) or if it holds U+0000.
 * U+FEFF is kept as it is [MQTT-1.5.3-3].
 */
export function fromUtf8(bytes: string): string | undefined {
  if (/^[\x01-\x7f]*$/.test(bytes)) return bytes;
  let out = "";
  for (let i = 0; i < bytes.length;) {
    const b = bytes.charCodeAt(i++);
    // n = continuation bytes that follow, min = smallest code point allowed for that length
    const n = b < 0x80 ? 0 : b >= 0xc2 && b < 0xe0 ? 1 : b >= 0xe0 && b < 0xf0 ? 2 : b >= 0xf0 && b < 0xf5 ? 3 : -1;
    if (n < 0 || !b) return undefined;
    let c = n ? b & (0x3f >> n) : b;
    for (let k = 0; k < n; k++) {
      const x = bytes.charCodeAt(i++);
      if ((x & 0xc0) != 0x80) return undefined; // also catches the end of input (NaN)
      c = c << 6 | x & 63;
    }
    if (n == 2 && (c < 0x800 || (c >= 0xd800 && c < 0xe000))) return undefined;
    if (n == 3 && (c < 0x10000 || c > 0x10ffff)) return undefined;
    out += c < 0x10000 ? String.fromCharCode(c)
      : String.fromCharCode(0xd800 + ((c - 0x10000) >> 10), 0xdc00 + (c & 0x3ff));
  }
  return BYTES ? bytes : out;
}
