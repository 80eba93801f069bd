// Shared helpers for the protocol unit tests: reference encodings from the
// npm package mqtt-packet, binary-string <-> Buffer conversions and a tiny
// independent fixed-header splitter (so decode tests don't depend on Framer).
import mqttPacket from "mqtt-packet";
import type { Packet as RefPacket } from "mqtt-packet";

export type { RefPacket };

/** Reference encoding of a packet object (mqtt-packet's generate), as a binary string. */
export function ref(p: RefPacket, opts?: object): string {
  return mqttPacket.generate(p, opts).toString("latin1");
}

/** Parse bytes (binary string) with mqtt-packet's parser; returns the packets and errors. */
export function refParse(bytes: string, protocolVersion = 4): { packets: any[]; errors: Error[] } {
  const parser = mqttPacket.parser({ protocolVersion });
  const packets: any[] = [], errors: Error[] = [];
  parser.on("packet", (p) => packets.push(p));
  parser.on("error", (e) => errors.push(e));
  parser.parse(Buffer.from(bytes, "latin1"));
  return { packets, errors };
}

/** Binary string of the UTF-8 encoding of `text`, as Node encodes it. */
export const utf8 = (text: string) => Buffer.from(text, "utf8").toString("latin1");

/** Binary string from byte values. */
export const bytes = (...b: number[]) => String.fromCharCode(...b);

/** Binary string of all 256 byte values, `times` times over. */
export function allBytes(times = 1): string {
  let s = "";
  for (let t = 0; t < times; t++) for (let i = 0; i < 256; i++) s += String.fromCharCode(i);
  return s;
}

/**
 * Split one complete encoded packet into its first byte, the remaining-length
 * bytes and the body, following the fixed-header layout of spec section 2.2.3
 * (written independently of the code under test).
 */
export function splitPacket(p: string): { first: number; lengthBytes: number[]; body: string } {
  const lengthBytes: number[] = [];
  let i = 1, value = 0, mul = 1, b: number;
  do {
    b = p.charCodeAt(i++);
    lengthBytes.push(b);
    value += (b & 127) * mul;
    mul *= 128;
  } while (b & 128);
  if (p.length - i !== value) throw new Error(`splitPacket: remaining length ${value} but ${p.length - i} body bytes`);
  return { first: p.charCodeAt(0), lengthBytes, body: p.substr(i) };
}

/** Hex dump for assertion messages. */
export const hex = (s: string) => Buffer.from(s, "latin1").toString("hex");

/** Assert that `fn` throws the protocol layer's error object ({code: "protocol", message}). */
export function throwsProtocol(fn: () => unknown, what?: string): void {
  let caught: unknown, threw = false;
  try { fn(); } catch (e) { caught = e; threw = true; }
  if (!threw) throw new Error(`expected a protocol error${what ? " for " + what : ""}, nothing was thrown`);
  const e = caught as { code?: unknown; message?: unknown };
  if (!e || e.code !== "protocol" || typeof e.message != "string" || !e.message) {
    throw new Error(`expected {code:"protocol", message} ${what ? "for " + what : ""}, got ${String(caught)} ${JSON.stringify(caught)}`);
  }
}

/** Deterministic PRNG (mulberry32) so property tests are reproducible. */
export { seededRandom as prng } from "../support/util.js";
