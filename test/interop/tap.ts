// A loopback relay between one MQTT client and a broker that parses the fixed headers going by, so the
// interop scenarios can count control packets (PINGREQ/PINGRESP) with timestamps, and can go silent
// (stop forwarding and reading in both directions, sockets left open: a client that vanished without a
// FIN, as a board losing power does).
import net from "node:net";
import { LOOPBACK } from "../support/util.js";

export const PACKET_NAMES = ["", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBSCRIBE",
  "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", ""];

export interface Seen {
  dir: "up" | "down";
  type: string;
  at: number;
}

export interface Tap {
  port: number;
  /** Packets seen so far, both directions, in order. */
  seen: Seen[];
  count(dir: "up" | "down", type: string, since?: number): number;
  /** Stop forwarding and reading in both directions; sockets stay open (a silent peer). */
  silence(): void;
  /** Connections currently open on the client side. */
  readonly open: number;
  close(): Promise<void>;
}

/** Splits a byte stream into MQTT packets and reports each one's type. */
class HeaderScanner {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onPacket: (type: number) => void) {}
  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (this.buf.length < 2) return;
      let len = 0, mul = 1, i = 1;
      for (;;) {
        if (i >= this.buf.length) return; // length incomplete
        const b = this.buf[i++];
        len += (b & 127) * mul;
        mul *= 128;
        if (!(b & 128)) break;
        if (i > 4) { this.buf = Buffer.alloc(0); return; } // not MQTT: stop scanning
      }
      if (this.buf.length < i + len) return;
      this.onPacket(this.buf[0] >> 4);
      this.buf = this.buf.subarray(i + len);
    }
  }
}

export async function startTap(targetPort: number, targetHost = LOOPBACK): Promise<Tap> {
  const seen: Seen[] = [];
  const pairs = new Set<[net.Socket, net.Socket]>();
  let silent = false;
  const server = net.createServer((client) => {
    const upstream = net.connect({ port: targetPort, host: targetHost });
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const up = new HeaderScanner((t) => seen.push({ dir: "up", type: PACKET_NAMES[t], at: Date.now() }));
    const down = new HeaderScanner((t) => seen.push({ dir: "down", type: PACKET_NAMES[t], at: Date.now() }));
    client.on("data", (d) => { if (!silent) { up.push(d); upstream.write(d); } });
    upstream.on("data", (d) => { if (!silent) { down.push(d); client.write(d); } });
    const done = () => { pairs.delete(pair); client.destroy(); upstream.destroy(); };
    client.on("close", () => { if (!silent) done(); });
    upstream.on("close", () => { if (!silent) done(); else pairs.delete(pair); });
    client.on("error", () => {});
    upstream.on("error", () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, LOOPBACK, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    port,
    seen,
    count: (dir, type, since = 0) => seen.filter((s) => s.dir === dir && s.type === type && s.at >= since).length,
    silence() {
      silent = true;
      // Stop reading too, so nothing is acknowledged at the MQTT level (TCP still keeps the link open).
      for (const [c, u] of pairs) { c.pause(); u.pause(); }
    },
    get open() { return pairs.size; },
    async close() {
      for (const [c, u] of pairs) { c.destroy(); u.destroy(); }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
