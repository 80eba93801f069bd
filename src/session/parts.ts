// The client's cold parts: code a board needs only now and then (options checked once at create,
// SUBSCRIBE/UNSUBSCRIBE and their acks, QoS 2, CONNACK, the refused-request logic, publishes that
// are not the common case, subscription handlers, TLS set-up). The resident client calls part(name) where one of them is
// needed.
//
// Here, for Node (the tests, the simulator's host side), every part is linked in. A board bundle
// gets src/platform/parts.ts instead (rollup.config.js swaps the file): there each part is its own
// Storage module, firmware/mote-mqtt-<name>.js, required on first use and, unless `keep` is set,
// forgotten again right after, so a board pays variables only for what it is using at the moment.
import * as setup from "./setup.js";
import * as sub from "./sub.js";
import * as ctl from "./ctl.js";
import * as close from "./close.js";
import * as pub from "./pub.js";
import * as match from "./match.js";
import * as stream from "./stream.js";

const PARTS: { [name: string]: any } = { setup, sub, ctl, close, pub, match, stream };

/** The part `name` (setup, sub, ctl, close, pub, match; stream, which only features require); `keep` 1: it will be needed again soon, keep it loaded. */
export function part(name: string, keep?: number): any {
  return PARTS[name];
}
