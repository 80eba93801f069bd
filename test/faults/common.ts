// Shared by the fault-injection scenarios (test/faults/*.test.ts): counting delivered messages per QoS,
// a paced publisher that honours publish() = false, the client's reconnect schedule, and a sampler.
import type { Device } from "../session/harness.js";

/** What a set of delivered messages looks like for one QoS. */
export interface QosTally {
  /** Messages of this QoS that were expected. */
  expected: number;
  /** Deliveries seen (duplicates included). */
  total: number;
  /** Distinct messages seen. */
  distinct: number;
  /** Expected message numbers never seen. */
  missing: number[];
  /** total - distinct. */
  duplicated: number;
  /** Delivered at another QoS than published. */
  wrongQos: number;
}

/**
 * Tallies deliveries of messages 0..n-1 whose payload is the message number and whose QoS is qosOf(i).
 * Payloads that are not such a number are ignored.
 */
export function tally(n: number, qosOf: (i: number) => number, items: { qos: number; payload: string }[]):
  Record<number, QosTally> {
  const out: Record<number, QosTally> = {};
  const levels = [...new Set([...Array(n).keys()].map(qosOf))].sort();
  for (const q of levels) {
    const want = [...Array(n).keys()].filter((i) => qosOf(i) === q);
    const mine = items.filter((m) => /^\d+$/.test(m.payload) && Number(m.payload) < n && qosOf(Number(m.payload)) === q);
    const seen = new Set(mine.map((m) => Number(m.payload)));
    out[q] = {
      expected: want.length,
      total: mine.length,
      distinct: seen.size,
      missing: want.filter((i) => !seen.has(i)),
      duplicated: mine.length - seen.size,
      wrongQos: mine.filter((m) => m.qos !== q).length,
    };
  }
  return out;
}

/** JSON of a tally with the missing lists shortened (for failure messages). */
export function show(t: unknown): string {
  return JSON.stringify(t, (k, v) => (k === "missing" && Array.isArray(v) && v.length > 10 ? [...v.slice(0, 10), "..."] : v));
}

/**
 * Publishes message(i) for i = 0..n-1 from the device, as code on a board would: publish until publish()
 * says false, then go on at the next "drain" or "connected" event (or a 25 ms timer as a safety net).
 * `before(i)` runs before message i is offered (to trigger a fault in the middle).
 */
export function pacedPublisher(dev: Device, n: number, message: (i: number) => { topic: string; payload: string; qos: number },
  before?: (i: number) => void) {
  const state = { next: 0, refused: 0, stopped: false };
  const offered = new Set<number>();
  const pump = () => {
    while (!state.stopped && state.next < n) {
      if (!offered.has(state.next)) {
        offered.add(state.next);
        if (before) before(state.next);
      }
      const m = message(state.next);
      if (!dev.client.publish(m.topic, m.payload, { qos: m.qos })) { state.refused++; return; }
      state.next++;
    }
  };
  dev.client.on("drain", pump);
  dev.client.on("connected", pump);
  const timer = setInterval(pump, 25);
  pump();
  return {
    state,
    /** Messages accepted by publish() so far. */
    get accepted() { return state.next; },
    stop() { state.stopped = true; clearInterval(timer); },
  };
}

/** How long the client waits for CONNACK from opening the socket (keep_alive / 2, at least 10 s). */
export const CONNACK_WAIT = 10000;

/** The client's reconnect delay bounds (ms) after `tries` failed or short-lived connections: d/2 .. d. */
export function backoff(tries: number): { min: number; max: number } {
  const d = Math.min(60000, 1000 * Math.pow(2, tries));
  return { min: d / 2, max: d };
}

/**
 * The most connection attempts the backoff schedule allows within `ms` when every connection is short-lived
 * (never 10 s): the first attempt at 0, then each after the smallest jittered delay.
 */
export function maxAttemptsWithin(ms: number): number {
  let n = 1, at = 0;
  for (let k = 0; ; k++) {
    at += backoff(k).min;
    if (at > ms) return n;
    n++;
  }
}

/** Calls `fn` every `ms` until stop(); keeps each result. */
export function sampler<T>(ms: number, fn: () => T) {
  const samples: T[] = [];
  const timer = setInterval(() => samples.push(fn()), ms);
  samples.push(fn());
  return { samples, stop() { clearInterval(timer); } };
}

/** Gaps (ms) between consecutive timestamps. */
export function gaps(times: number[]): number[] {
  return times.slice(1).map((t, i) => t - times[i]);
}
