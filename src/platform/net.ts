// The board side of the session's Platform seam: Espruino's net/tls sockets and timers.
import type { Platform, Socket } from "../session/client.js";

declare function require(module: string): any;

export const platform: Platform = {
  open(host: string, port: number, tls: unknown, onOpen: () => void): Socket {
    // tls: true, or options for require("tls").connect (ca, cert, key ...).
    let m;
    try {
      m = require(tls ? "tls" : "net");
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
  },
  // Espruino's own functions, not wrappers: a wrapper would cost variables on the board.
  after: setTimeout,
  every: setInterval,
  cancel: clearTimeout,
  now: Date.now,
  random: Math.random,
};
