// Identity (feature module mote-info, loaded by the runtime at every connect and let go right after,
// so it costs no lasting variables): one retained JSON on <base>/info, QoS 1, published by every
// board, with or without remote management (docs/remote-protocol.md, "<base>/info"):
//   fw     the runtime bundle's version      hash  the running bundle's hash (alg), lowercase hex
//   alg    sha256, or sha1 where the build has no SHA-256 (ESP8266)
//   board  board id (mote.board), else Espruino's board name      id  MQTT client id
//   cfg    hash of mote.json as stored       free  bytes of Storage free
//   boot   why this boot happened (the boot guard's word; "power" without the guard), why with "rollback"
//   n      the last accepted remote command counter      remote  the board takes remote commands
// The bundle is hashed where it lies: Storage.read gives a string backed by flash, not a RAM copy.
import type { Mote } from "./mote.js";
import type { board as Board } from "../platform/board.js";
import { hashOf, algOf, hex } from "./hash.js";
import { readState } from "./bootstate.js";

export function publishInfo(m: Mote, board: typeof Board) {
  var S = board.module("Storage"), C = board.module("crypto"), H = hashOf(C), g = m.g,
    code = S.read(g ? "mote." + g.s : ".bootcde"), b = S.readJSON("mote.board", 1);
  m.client.publish(m.base + "/info", JSON.stringify({
    fw: m.v, hash: code === undefined ? "" : hex(H(code)), alg: algOf(C), board: b && b.id || board.model(),
    id: m.c.mqtt.client_id, cfg: hex(H(S.read("mote.json") || "")), free: S.getFree(), boot: g ? g.r : "power",
    why: g && g.w, n: readState(S).n || 0, remote: !!m.c.remote,
  }), { qos: 1, retain: true });
}
