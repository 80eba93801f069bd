// The session layer (src/session/client.ts, compiled for Node) on a fake Platform, for spec checks that
// need many thousands of steps or a fault the simulator cannot make on cue: sockets are objects that
// record every write and take bytes from the test; timers only run when the test says so.
import { Client } from "../../src/session/client.js";
import type { Options, Platform, Socket } from "../../src/session/client.js";

export class FakeSocket implements Socket {
  readonly handlers: Record<string, (arg?: any) => void> = {};
  /** Packets written (the client writes one whole packet per write). */
  readonly written: string[] = [];
  ended = false;
  /** When set, write() throws this (Espruino throws "This socket is closed" on a closed socket). */
  failWrites: string | undefined;
  readonly onOpen: () => void;
  // Espruino calls socket listeners with `this` set to the socket.
  constructor(onOpen: (this: Socket) => void) { this.onOpen = onOpen.bind(this); }
  write(data: string): unknown {
    if (this.failWrites) throw new Error(this.failWrites);
    this.written.push(data);
    return true;
  }
  end(): void { this.ended = true; }
  on(event: string, handler: (this: Socket, arg?: any) => void): void { this.handlers[event] = handler.bind(this); }
  /** Bytes from the broker. */
  feed(bytes: string): void { this.handlers.data(bytes); }
}

interface Timer { fn: () => void; at: number; every: number; id: number }

export class Rig {
  readonly sockets: FakeSocket[] = [];
  readonly events: { name: string; args: unknown[] }[] = [];
  readonly client: Client;
  t = 0;
  private timers: Timer[] = [];
  private nextTimer = 1;

  constructor(options: Partial<Options> = {}) {
    const rig = this;
    const platform: Platform = {
      open(_host: string, _port: number, _tls: unknown, onOpen: () => void): Socket {
        const s = new FakeSocket(onOpen);
        rig.sockets.push(s);
        return s;
      },
      after: (fn, ms, a) => this.addTimer(() => fn(a), ms, 0),
      every: (fn, ms, a) => this.addTimer(() => fn(a), ms, ms),
      cancel: (id) => { this.timers = this.timers.filter((x) => x.id !== id); },
      now: () => this.t,
      random: () => 0.5,
    };
    this.client = new Client(platform, { host: "broker", client_id: "rig", ...options });
    this.client.emit = (name: string, ...args: unknown[]) => { this.events.push({ name, args }); };
  }

  private addTimer(fn: () => void, ms: number, every: number): number {
    const id = this.nextTimer++;
    this.timers.push({ fn, at: this.t + ms, every, id });
    return id;
  }

  /** Moves the clock on by `ms`, running the timers that come due, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.t = due.at;
      if (due.every) due.at += due.every; else this.timers = this.timers.filter((x) => x !== due);
      due.fn();
    }
    this.t = end;
  }

  /** Pending one-shot timers (a scheduled reconnect). */
  oneShots(): number {
    return this.timers.filter((x) => !x.every).length;
  }

  get sock(): FakeSocket {
    return this.sockets[this.sockets.length - 1];
  }

  /** connect(), the TCP connection opens (the client writes CONNECT), the broker answers CONNACK. */
  connect(sessionPresent = false): void {
    this.client.connect();
    this.open(sessionPresent);
  }

  /** The newest socket opens and the broker accepts. */
  open(sessionPresent = false): void {
    this.sock.onOpen();
    this.sock.feed("\x20\x02" + String.fromCharCode(sessionPresent ? 1 : 0, 0));
  }

  count(name: string): number {
    return this.events.filter((e) => e.name === name).length;
  }
}

/** Packet identifier of an encoded packet the client wrote (PUBLISH QoS > 0, PUBREL, SUBSCRIBE, UNSUBSCRIBE). */
export function writtenId(p: string): number {
  let i = 1;
  while (p.charCodeAt(i++) & 128);
  if (p.charCodeAt(0) >> 4 === 3) i += 2 + (p.charCodeAt(i) << 8 | p.charCodeAt(i + 1));
  return p.charCodeAt(i) << 8 | p.charCodeAt(i + 1);
}
