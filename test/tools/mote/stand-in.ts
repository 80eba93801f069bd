// A stand-in board for the host's own paths: an mqtt.js client that speaks docs/remote-protocol.md
// (retained info, signed commands checked with its own HMAC code, replies, a paced image transfer)
// and can be told to misbehave in ways a real board cannot be made to on demand: lose a chunk, go
// silent, refuse, roll back. The real board (firmware/mote-remote.js in the simulator) is tested by
// e2e.test.ts; this one never replaces it there.
import crypto from "node:crypto";
import type { MqttClient } from "mqtt";
import { mqttjsClient } from "../../support/util.js";

export interface StandInInfo {
  fw: string; hash: string; alg: "sha256" | "sha1"; board: string; id: string; cfg: string; free: number;
  boot: string; n: number; remote: boolean; why?: string;
}

export interface Command { mac: string; json: string; cmd: any; macOk: boolean }

export class StandIn {
  client!: MqttClient;
  info: StandInInfo;
  key: string;
  commands: Command[] = [];
  /** What to do with a command whose mac is right: reply object (n and op added), or undefined (stay silent). */
  onCommand: (c: any) => Record<string, unknown> | undefined = () => ({ ok: true });
  /** Image transfer state, and knobs. */
  image = { size: 0, hash: "", next: 0, data: Buffer.alloc(0), chunk: 256, window: 4 };
  /** Offsets whose first chunk is dropped (answered with the expected offset, as a board does for a chunk it did not take). */
  dropOnce = new Set<number>();
  /** While true, chunks are ignored and not acknowledged (a board that lost its connection). */
  deaf = false;
  /** Called when the last byte is in; default: check the hash and reply ota_end. */
  onImage?: (data: Buffer) => void;
  chunksSeen = 0;

  constructor(readonly base: string, info: Partial<StandInInfo> & { id: string }, key: string) {
    this.key = key;
    this.info = { fw: "0.1.0", hash: "0".repeat(64), alg: "sha256", board: "esp32-devkitc", cfg: "c".repeat(64), free: 500000,
      boot: "power", n: 0, remote: true, ...info };
  }

  async start(url: string): Promise<this> {
    this.client = await mqttjsClient(url);
    this.client.on("message", (topic, payload) => this.message(topic, payload));
    await this.client.subscribeAsync([this.base + "/cmd", this.base + "/ota/+"], { qos: 1 });
    await this.publishInfo();
    return this;
  }

  publishInfo(change: Partial<StandInInfo> = {}) {
    Object.assign(this.info, change);
    return this.client.publishAsync(this.base + "/info", JSON.stringify(this.info), { qos: 1, retain: true });
  }
  status(s: string) { return this.client.publishAsync(this.base + "/status", s, { qos: 1, retain: true }); }
  reply(r: Record<string, unknown>) { return this.client.publishAsync(this.base + "/reply", JSON.stringify(r), { qos: 1 }); }

  private message(topic: string, payload: Buffer) {
    if (topic == this.base + "/cmd") return this.command(payload);
    if (!topic.startsWith(this.base + "/ota/") || topic.endsWith("/ack")) return;
    this.chunksSeen++;
    if (this.deaf) return;
    const offset = Number(topic.slice(this.base.length + 5));
    if (offset != this.image.next || this.dropOnce.delete(offset)) return void this.ack(this.image.next);
    this.image.data = Buffer.concat([this.image.data.subarray(0, offset), payload]);
    this.image.next = offset + payload.length;
    // As the real board (src/device/remote-ota.ts): the last chunk is answered by ota_end, not by an ack.
    if (this.image.next < this.image.size) return void this.ack(this.image.next);
    if (this.onImage) return this.onImage(this.image.data);
    const ok = crypto.createHash(this.info.alg).update(this.image.data).digest("hex") == this.image.hash;
    void this.reply(ok ? { op: "ota_end", ok: true } : { op: "ota_end", ok: false, err: ["hash mismatch"] });
  }
  private ack(offset: number) { void this.client.publishAsync(this.base + "/ota/ack", String(offset), { qos: 1 }); }

  // Written apart from protocol.ts: "<mac> <json>", the mac an HMAC of the json's bytes under the key.
  private command(payload: Buffer) {
    const text = payload.toString("utf8"), sp = text.indexOf(" ");
    const mac = text.slice(0, sp), json = text.slice(sp + 1);
    const macOk = mac == crypto.createHmac(this.info.alg, this.key).update(Buffer.from(json, "utf8")).digest("hex");
    let cmd: any;
    try { cmd = JSON.parse(json); } catch { cmd = undefined; }
    this.commands.push({ mac, json, cmd, macOk });
    if (!macOk) return void this.reply({ n: cmd?.n, op: cmd?.op, ok: false, err: ["bad mac: command refused"] });
    if (!(cmd.n > this.info.n)) return void this.reply({ n: cmd.n, op: cmd.op, ok: false, err: ["stale counter"] });
    this.info.n = cmd.n;
    // A transfer of another image starts over; of the same one, it resumes at `next`.
    if (cmd.op == "ota_begin" && cmd.hash != this.image.hash) this.image = { ...this.image, size: cmd.size, hash: cmd.hash, next: 0, data: Buffer.alloc(0) };
    const r = this.onCommand(cmd);
    if (r) void this.reply({ n: cmd.n, op: cmd.op, ...r });
  }

  /** The ota_begin reply a board gives for the transfer it has. */
  otaBegin() { return { ok: true, next: this.image.next, chunk: this.image.chunk, window: this.image.window }; }

  async stop() {
    await this.client.publishAsync(this.base + "/info", "", { qos: 1, retain: true });
    await this.client.publishAsync(this.base + "/status", "", { qos: 1, retain: true });
    await this.client.endAsync();
  }
}
