// Remote management, the resident part (feature module mote-remote, loaded when mote.json has
// "remote"): subscribes <base>/cmd and <base>/ota/+ and hands each message to the module that deals
// with it, loaded from Storage for that message and released after: mote-remote-cmd (checks the
// command's HMAC and counter, then runs it), or mote-remote-ota while a firmware transfer is on. So an
// idle board pays only for one subscription handler and one small object. Protocol:
// docs/remote-protocol.md.
import type { Mote } from "./mote.js";
import type { board as Board } from "../platform/board.js";

/**
 * What the command modules share: m, board (b); Storage (S) and the hash function (H), set for each
 * message; the OTA transfer (o) and its module (h) while one is on.
 */
export interface Remote { m: Mote; b: typeof Board; S?: any; H?: any; o?: any; h?: any }

export function startRemote(m: Mote, b: typeof Board) {
  var x: Remote = { m: m, b: b };
  m.client.subscribe([m.base + "/cmd", m.base + "/ota/+"], { qos: 1 }, function (t: string, msg: string) {
    (x.h || b.module("mote-remote-cmd")).handle(x, t, msg);
    b.forget("mote-remote-cmd");
  });
  return x;
}
