// Hashes for the remote protocol on top of Espruino's require("crypto"): SHA-256 where the build has
// it (ESP32), SHA-1 where that is all it has (ESP8266). The same one names the bundle hash, the config
// hash, the image hash and the HMAC (`alg` of <base>/info). Espruino's hash functions take one string
// (a flash-backed Storage string too, read in place) and return an ArrayBuffer; there is no HMAC, so it
// is built here (RFC 2104) from two calls.

/** The board's hash function: C is require("crypto"). */
export function hashOf(C: any): (s: string) => ArrayBuffer {
  return C.SHA256 || C.SHA1;
}

/** "sha256" or "sha1", as <base>/info says. */
export function algOf(C: any): string {
  return C.SHA256 ? "sha256" : "sha1";
}

/** Lowercase hex of hash bytes. */
export function hex(b: ArrayBuffer): string {
  var u = new Uint8Array(b), s = "", i: number;
  for (i = 0; i < u.length; i++) s += (256 + u[i]).toString(16).substr(1);
  return s;
}

/** Lowercase hex HMAC of `msg` (bytes as a string) under `key` (bytes as a string): block size 64. */
export function hmac(H: (s: string) => ArrayBuffer, key: string, msg: string): string {
  var i = "", o = "", j: number, x: number;
  if (key.length > 64) key = E.toString(H(key));
  for (j = 0; j < 64; j++) {
    x = key.charCodeAt(j) || 0;
    i += String.fromCharCode(x ^ 54);
    o += String.fromCharCode(x ^ 92);
  }
  return hex(H(o + E.toString(H(i + msg))));
}
