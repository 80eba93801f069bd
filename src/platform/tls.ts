// The "tls" part of the client (firmware/mote-mqtt-tls.js): opens a TLS connection with Espruino's
// tls module, loaded by src/platform/net.ts only for a client given `tls`.
import type { Socket } from "../session/client.js";

declare function require(module: string): any;

/** tls: true, or options for require("tls").connect (ca, cert, key ...). */
export function open(host: string, port: number, tls: unknown, onOpen: () => void): Socket {
  let m;
  try {
    m = require("tls");
  } catch (e) {
    throw { code: "unsupported", message: "this board has no TLS (require(\"tls\") failed)" };
  }
  // Only an options object is copied: Espruino's Object.assign throws on false or true.
  const o = Object.assign({}, typeof tls == "object" ? tls : {}, { host: host, port: port }) as { [k: string]: unknown };
  // Espruino hands ca/cert/key to mbedTLS with their length, and mbedTLS reads
  // a certificate as PEM only when its text ends in a NUL: add it, or PEM fails.
  ["ca", "cert", "key"].forEach((k) => {
    const v = o[k];
    if (typeof v == "string" && /-----BEGIN/.test(v) && v.charCodeAt(v.length - 1)) o[k] = v + "\0";
  });
  return m.connect(o, onOpen);
}
