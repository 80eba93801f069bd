// Broker failover on a real 3-node NATS cluster with JetStream (test/support/nats-cluster.ts): the interop
// "failover" scenario (test/interop/scenarios.ts), whose figures are the measured time to move and the
// QoS 1 messages lost and duplicated. Fails (never skips) when nats-server is missing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startNatsClusterBroker } from "./brokers/nats-cluster.js";
import { SCENARIOS, runScenario } from "./scenarios.js";

test("failover: the node in use is killed; the device moves to another node, no QoS 1 message lost, subscription kept", { timeout: 300000 }, async (t) => {
  const broker = await startNatsClusterBroker();
  try {
    const failover = SCENARIOS.find((s) => s.id === "failover")!;
    const r = await runScenario(failover, broker);
    for (const f of r.figures) t.diagnostic(f);
    if (r.status === "fail") t.diagnostic(broker.logTail(30));
    assert.equal(r.status, "pass", r.notes.join(" | "));
    // the figures say what was measured: a move to another node and no message lost either way
    assert.match(r.figures.join("\n"), /node 1 killed: on node [23] after/);
    assert.match(r.figures.join("\n"), /up: 200 sent, 0 lost, \d+ duplicate\(s\); down: \d+ sent, 0 lost/);
  } finally {
    await broker.stop();
  }
});
