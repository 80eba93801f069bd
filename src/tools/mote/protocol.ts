// The host side of the remote-management wire protocol (docs/remote-protocol.md): topics, the
// identity message, signed commands. One copy, used by `mote config`, `mote ota`, the fleet monitor
// and the tests; the board side is src/device/remote*.ts.
import crypto from "node:crypto";

/** The hash a board uses for its bundle, config, images and HMACs: sha256, or sha1 where it has no SHA-256. */
export type Alg = "sha256" | "sha1";

/** `<base>/info`, retained, published by the board at every connect. */
export interface Info {
  fw: string;          // firmware version
  hash: string;        // lowercase hex `alg` hash of the running bundle
  alg: Alg;
  board: string;       // board id (boards/<id>.json)
  id: string;          // MQTT client id
  cfg: string;         // lowercase hex `alg` hash of the running mote.json
  free: number;        // bytes of Storage free
  boot: string;        // power | ota | config | rollback | restart | deep-sleep | ...
  why?: string;        // with boot "rollback": what failed
  n: number;           // last accepted command counter
  remote?: boolean;    // the board takes commands (mote.json has "remote")
  [more: string]: unknown;
}

/** The topics of one board, under its base topic. */
export function topics(base: string) {
  return {
    status: base + "/status",
    info: base + "/info",
    diag: base + "/diag",
    error: base + "/error",
    cmd: base + "/cmd",
    reply: base + "/reply",
    otaChunk: (offset: number) => base + "/ota/" + offset,
    otaAck: base + "/ota/ack",
  };
}

/** The base topic of an `<base>/info` topic, or undefined when it is not one. */
export function baseOfInfo(topic: string): string | undefined {
  return topic.endsWith("/info") && topic.length > 5 ? topic.slice(0, -5) : undefined;
}

/** A parsed `<base>/info` payload, or undefined when it is not one (missing fields, not JSON). */
export function parseInfo(payload: Buffer | string): Info | undefined {
  let v: any;
  try {
    v = JSON.parse(payload.toString());
  } catch {
    return undefined;
  }
  if (!v || typeof v != "object" || typeof v.id != "string" || typeof v.hash != "string") return undefined;
  if (v.alg != "sha256" && v.alg != "sha1") return undefined;
  return v as Info;
}

/** Lowercase hex hash of bytes (a Buffer, or a string taken as UTF-8). */
export function hashHex(alg: Alg, data: Buffer | string): string {
  return crypto.createHash(alg).update(data).digest("hex");
}

/** Lowercase hex HMAC of bytes under the device key (the key's UTF-8 bytes). */
export function hmacHex(alg: Alg, key: string, data: Buffer | string): string {
  return crypto.createHmac(alg, Buffer.from(key, "utf8")).update(data).digest("hex");
}

/** A command counter greater than the board's last accepted one (info.n). */
export function nextCounter(last?: number): number {
  return Math.max((last || 0) + 1, Date.now());
}

/**
 * The payload of a command on `<base>/cmd`: `<mac> <json>`, the mac over the exact UTF-8 bytes of
 * the JSON. `cmd` must carry `n` and `op`.
 */
export function signCommand(alg: Alg, key: string, cmd: { n: number; op: string; [k: string]: unknown }): Buffer {
  const json = Buffer.from(JSON.stringify(cmd), "utf8");
  return Buffer.concat([Buffer.from(hmacHex(alg, key, json) + " ", "latin1"), json]);
}

/** A reply on `<base>/reply`, or undefined when it is not JSON. */
export interface Reply { n?: number; op?: string; ok: boolean; err?: string[]; [more: string]: unknown }
export function parseReply(payload: Buffer | string): Reply | undefined {
  try {
    const v = JSON.parse(payload.toString());
    return v && typeof v == "object" && typeof v.ok == "boolean" ? v : undefined;
  } catch {
    return undefined;
  }
}
