// In-process Aedes broker on a free loopback port. Unlike Mosquitto, Aedes can refuse a SUBSCRIBE
// (SUBACK 0x80) through its authorizeSubscribe hook, which is why the tests need it.
import net from "node:net";
import aedesModule from "aedes";
import type { AedesOptions, Client, Subscription, PublishPacket } from "aedes";

// aedes is CommonJS (module.exports = Aedes, with Aedes.createBroker = Aedes): under NodeNext the default
// import is the whole module object, so take createBroker from it.
const createBroker = aedesModule.createBroker;
export type AedesBroker = ReturnType<typeof createBroker>;
import { LOOPBACK } from "./util.js";

export interface AedesStartOptions {
  /**
   * {user: password}. When given, CONNECT must carry one of these pairs: an unknown user or a wrong
   * password gets CONNACK 4 (bad user name or password), a missing user name CONNACK 5 (not authorised).
   */
  users?: Record<string, string>;
  /** Full control over authentication (overrides `users`); return a CONNACK code 0 (accept) or 1..5. */
  authenticate?: (clientId: string, username: string | undefined, password: string | undefined) => number;
  /** Return true to refuse a subscription to `filter`: the SUBACK carries 0x80 for it. */
  refuseSubscribe?: (filter: string, clientId: string) => boolean;
  /** Return true to refuse a PUBLISH to `topic`: Aedes then closes that client's connection (3.1.1 has no refusal code). */
  refusePublish?: (topic: string, clientId: string) => boolean;
  /** Raw Aedes options merged in last (e.g. keepaliveLimit, connectTimeout). */
  aedes?: AedesOptions;
  /** Port (default: a free one chosen by the OS). */
  port?: number;
}

export interface AedesInstance {
  port: number;
  host: string;
  url: string;
  broker: AedesBroker;
  /** Clients currently connected (TCP sockets open to the broker). */
  readonly sockets: number;
  /** Closes every client socket, the listener and the broker. Idempotent. */
  stop(): Promise<void>;
}

export async function startAedes(opts: AedesStartOptions = {}): Promise<AedesInstance> {
  const options: AedesOptions = {};
  if (opts.authenticate || opts.users) {
    const users = opts.users;
    const custom = opts.authenticate;
    options.authenticate = (client: Client, username, password, done) => {
      const pw = password === undefined || password === null ? undefined : Buffer.from(password).toString("latin1");
      let code: number;
      if (custom) {
        code = custom(client.id, username ?? undefined, pw);
      } else if (username === undefined || username === null) {
        code = 5;
      } else {
        code = users && Object.prototype.hasOwnProperty.call(users, username) && users[username] === pw ? 0 : 4;
      }
      if (code === 0) return done(null, true);
      const err = Object.assign(new Error(`refused with CONNACK ${code}`), { returnCode: code });
      done(err as Parameters<typeof done>[0], false);
    };
  }
  if (opts.refuseSubscribe) {
    const refuse = opts.refuseSubscribe;
    options.authorizeSubscribe = (client: Client, sub: Subscription, done) => {
      // A null subscription makes Aedes answer 0x80 for this filter and keep the others.
      if (refuse(sub.topic, client.id)) return done(null, null);
      done(null, sub);
    };
  }
  if (opts.refusePublish) {
    const refuse = opts.refusePublish;
    options.authorizePublish = (client: Client | null, packet: PublishPacket, done) => {
      if (client && refuse(packet.topic, client.id)) return done(new Error(`publish to ${packet.topic} refused`));
      done(null);
    };
  }
  Object.assign(options, opts.aedes ?? {});

  const broker = createBroker(options);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => { /* client resets are normal in tests */ });
    broker.handle(socket);
  });
  // Client-level errors (bad packets, keep-alive timeouts) are expected in fault tests; don't crash.
  broker.on("clientError", () => {});
  broker.on("connectionError", () => {});

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, LOOPBACK, () => { server.removeListener("error", reject); resolve(); });
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;

  let stopping: Promise<void> | undefined;
  return {
    port,
    host: LOOPBACK,
    url: `mqtt://${LOOPBACK}:${port}`,
    broker,
    get sockets() { return sockets.size; },
    stop() {
      if (!stopping) {
        stopping = (async () => {
          const closed = new Promise<void>((resolve) => server.close(() => resolve()));
          for (const s of sockets) s.destroy();
          await closed;
          await new Promise<void>((resolve) => broker.close(() => resolve()));
        })();
      }
      return stopping;
    },
  };
}
