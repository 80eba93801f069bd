// A 3-node NATS cluster with JetStream and MQTT (test/support/nats-cluster.ts) as an interop Broker: host
// and port are node 1's MQTT listener (what single-broker scenarios use), `cluster` gives the failover
// scenario every node and a way to kill the one a client is on. Same quirks as a single NATS node.
import { type Broker, ACCESS, loopbackEndpoint, quirks, onAbort } from "./common.js";
import { startNatsCluster } from "../../support/nats-cluster.js";

export async function startNatsClusterBroker(): Promise<Broker> {
  const c = await startNatsCluster({ name: "mote_interop" });
  const unhook = onAbort(() => { for (const n of c.nodes) void n.kill(); });
  try {
    await c.ready();
  } catch (e) {
    unhook();
    await c.stop();
    throw e;
  }
  return {
    id: "nats-cluster",
    name: "NATS cluster (3 nodes, JetStream)",
    version: c.version,
    ...loopbackEndpoint(c.nodes[0].port),
    ...ACCESS,
    auth: c.auth,
    badAuth: { username: c.auth.username, password: "wrong" },
    quirks: quirks({ qos2Publish: "disconnect", maxGrantedQos: 1, sessionSurvivesRestart: true }),
    cluster: {
      servers: c.servers,
      async kill(port: number) {
        const n = c.byPort(port);
        if (!n) throw new Error(`no node of the cluster listens on ${port}`);
        await n.kill();
      },
      async heal() {
        for (const n of c.nodes) await n.start();
        await c.ready();
      },
    },
    async restart() {
      for (const n of c.nodes) await n.kill();
      for (const n of c.nodes) await n.start();
      await c.ready();
    },
    async stop() { unhook(); await c.stop(); },
    logTail: (n = 20) => c.logTail(Math.ceil(n / 3)),
  };
}
