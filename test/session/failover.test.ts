// Broker failover (`servers`): the session layer on a fake Platform that records where each
// connection goes, so the rotation order, the backoff between servers and the state carried from
// one server to the next are checked step by step. The real cluster is test/interop/nats-cluster.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "../../src/session/client.js";
import type { Options, Platform, Socket } from "../../src/session/client.js";
import { FakeSocket, writtenId } from "../spec/rig.js";

class Cluster {
  readonly opened: { to: string; at: number; sock: FakeSocket }[] = [];
  readonly events: { name: string; args: unknown[] }[] = [];
  readonly client: Client;
  /** Servers whose port refuses: open() throws as Espruino's net.connect does. */
  refusing = new Set<string>();
  t = 0;
  private timers: { fn: () => void; at: number; every: number; id: number }[] = [];
  private ids = 1;

  constructor(options: Partial<Options>) {
    const platform: Platform = {
      open: (host: string, port: number, _tls: unknown, onOpen: (this: Socket) => void): Socket => {
        const to = host + ":" + port;
        if (this.refusing.has(to)) {
          this.opened.push({ to, at: this.t, sock: undefined as unknown as FakeSocket });
          throw new Error("ECONNREFUSED " + to);
        }
        const sock = new FakeSocket(onOpen);
        this.opened.push({ to, at: this.t, sock });
        return sock;
      },
      after: (fn, ms, a) => this.add(() => fn(a), ms, 0),
      every: (fn, ms, a) => this.add(() => fn(a), ms, ms),
      cancel: (id) => { this.timers = this.timers.filter((x) => x.id !== id); },
      now: () => this.t,
      random: () => 0.5,
    };
    this.client = new Client(platform, { client_id: "fo", clean_session: false, ...options } as Options);
    this.client.emit = (name: string, ...args: unknown[]) => { this.events.push({ name, args }); };
  }

  private add(fn: () => void, ms: number, every: number): number {
    const id = this.ids++;
    this.timers.push({ fn, at: this.t + ms, every, id });
    return id;
  }

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

  /** Runs the clock until the next connection attempt; returns it. */
  nextAttempt(limit = 120000): { to: string; at: number; sock: FakeSocket } {
    const n = this.opened.length;
    for (let waited = 0; this.opened.length == n; waited += 10) {
      assert.ok(waited < limit, "no new connection attempt within " + limit + " ms");
      this.advance(10);
    }
    return this.opened[this.opened.length - 1];
  }

  accept(sock: FakeSocket, sessionPresent: boolean): void {
    sock.onOpen();
    sock.feed("\x20\x02" + String.fromCharCode(sessionPresent ? 1 : 0, 0));
  }

  /** The broker drops the connection (the node died). */
  lose(sock: FakeSocket): void {
    sock.handlers.close();
  }
}

const THREE = [{ host: "a", port: 1883 }, { host: "b", port: 1884 }, { host: "c" }];

test("servers: a lost or refused connection moves to the next server, in order, wrapping, with the backoff between", () => {
  const c = new Cluster({ servers: THREE });
  c.client.connect();
  assert.equal(c.opened[0].to, "a:1883", "the first server first");
  c.accept(c.opened[0].sock, false);
  c.advance(20000); // a stable connection: the backoff starts again from 1 s
  c.lose(c.opened[0].sock);
  const b = c.nextAttempt();
  assert.equal(b.to, "b:1884");
  // 1 s jittered down to half (random 0.5 here: 750 ms)
  assert.ok(b.at - 20000 >= 500 && b.at - 20000 <= 1000, "after the first backoff step: " + (b.at - 20000) + " ms");
  // b refuses at TCP (connect throws), c is refused by CONNACK 3: each moves on, the backoff grows
  c.lose(b.sock);
  c.refusing.add("c:1883");
  const cc = c.nextAttempt();
  assert.equal(cc.to, "c:1883", "port defaults to 1883");
  const a2 = c.nextAttempt();
  assert.equal(a2.to, "a:1883", "wraps to the first");
  a2.sock.onOpen();
  a2.sock.feed("\x20\x02\x00\x03");
  const b2 = c.nextAttempt();
  assert.equal(b2.to, "b:1884");
  const gaps = [b.at, cc.at, a2.at, b2.at].slice(1).map((x, i) => x - [b.at, cc.at, a2.at][i]);
  for (let i = 1; i < gaps.length; i++) assert.ok(gaps[i] > gaps[i - 1], "backoff grows across servers: " + gaps.join(", "));
  assert.deepEqual(c.events.filter((e) => e.name == "error").map((e) => (e.args[0] as { code: string }).code),
    ["connect", "server_unavailable"]);
  // disconnect() stops the rotation
  c.client.disconnect();
  c.advance(200000);
  assert.equal(c.opened.length, 5);
});

test("servers: the session, subscriptions and QoS 1/2 messages in flight go on with the next server", () => {
  const c = new Cluster({ servers: THREE });
  c.client.connect();
  const a = c.opened[0].sock;
  c.accept(a, false);
  c.client.subscribe({ "cmd/#": 1 });
  a.feed("\x90\x03" + a.written[a.written.length - 1].substr(2, 2) + "\x01"); // SUBACK
  assert.ok(c.client.publish("t", "one", { qos: 1 }));
  assert.ok(c.client.publish("t", "two", { qos: 2 }));
  const sent = a.written.slice(-2);
  assert.equal(c.client.stats().inflight, 2);
  c.lose(a);
  // offline: a QoS 1 message waits in the queue for the next server
  assert.ok(c.client.publish("t", "three", { qos: 1 }));
  const b = c.nextAttempt();
  assert.equal(b.to, "b:1884");
  c.accept(b.sock, true); // the cluster kept the session
  const resent = b.sock.written.slice(1);
  assert.equal(resent.length, 3, "the two in flight resent, then the queued one");
  for (let i = 0; i < 2; i++) {
    assert.equal(writtenId(resent[i]), writtenId(sent[i]), "same packet id");
    assert.equal(resent[i].charCodeAt(0), sent[i].charCodeAt(0) | 8, "DUP set");
    assert.equal(resent[i].substr(1), sent[i].substr(1));
  }
  assert.match(resent[2], /three$/);
  assert.equal(c.client.stats().inflight, 3);
  // no resubscribe into a session the broker kept
  assert.ok(!resent.some((p) => p.charCodeAt(0) >> 4 == 8));

  // lost again, and the next server has no session: the subscription is made again there
  c.lose(b.sock);
  const s3 = c.nextAttempt();
  assert.equal(s3.to, "c:1883");
  c.accept(s3.sock, false);
  const w = s3.sock.written.slice(1);
  assert.equal(w[0].charCodeAt(0) >> 4, 8, "SUBSCRIBE first");
  assert.match(w[0], /cmd\/#\x01$/);
  assert.equal(w.length, 4, "then the three messages, as first deliveries (no DUP)");
  for (const p of w.slice(1)) assert.equal(p.charCodeAt(0) & 8, 0);
  assert.equal(c.events.filter((e) => e.name == "connected").length, 3);
  assert.equal(c.client.stats().reconnects, 2);
});

test("servers: one server, or host/port alone, never rotates; bad lists are refused with code option", () => {
  const one = new Cluster({ servers: [{ host: "solo", port: 1999 }] });
  one.client.connect();
  one.lose(one.opened[0].sock);
  assert.equal(one.nextAttempt().to, "solo:1999");
  const plain = new Cluster({ host: "h", port: 2000 });
  plain.client.connect();
  plain.lose(plain.opened[0].sock);
  assert.equal(plain.nextAttempt().to, "h:2000");
  for (const bad of [[], [{ host: "" }], [{ host: "a", port: 0 }], [{ port: 1 }], "a:1"]) {
    assert.throws(() => new Cluster({ servers: bad as never }), (e: { code: string; message: string }) => {
      assert.equal(e.code, "option");
      assert.match(e.message, /servers/);
      return true;
    });
  }
});
