// The board side of the session's Platform seam: Espruino's net sockets and timers. A TLS
// connection is set up by the client part "tls" (src/platform/tls.ts), loaded only when used:
// most boards never need it, and an ESP8266 has no TLS at all.
import type { Platform, Socket } from "../session/client.js";
import { part } from "./parts.js";

declare function require(module: string): any;

export const platform: Platform = {
  open(host: string, port: number, tls: unknown, onOpen: () => void): Socket {
    return tls ? part("tls").open(host, port, tls, onOpen) : require("net").connect({ host: host, port: port }, onOpen);
  },
  // Espruino's own functions, not wrappers: a wrapper would cost variables on the board.
  after: setTimeout,
  every: setInterval,
  cancel: clearTimeout,
  now: Date.now,
  random: Math.random,
};
