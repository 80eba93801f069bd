// Fleet discovery on each of the five brokers the project tests (private instances from the interop
// suite's launchers; a broker that cannot start fails the test, as the interop suite does):
//   - a board known only by its retained status and info, published before the monitor started, is
//     found once it publishes live (on RabbitMQ, which gives retained messages to exact-topic
//     subscriptions only, through the monitor's exact-topic probes), with its identity;
//   - a live board is online, and offline through its will when its connection is lost.
// Topics live under the broker's topicRoot (ejabberd's access rules allow only that).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { MqttClient } from "mqtt";
import { BROKERS } from "../interop/brokers/index.js";
import { mqttjsClient, waitFor } from "../support/util.js";
import { Fleet } from "../../src/tools/mote/fleet.js";

for (const entry of BROKERS.filter((e) => e.id != "nats-cluster")) {
  test(`discovery on ${entry.name}`, { timeout: 120000 }, async () => {
    const b = await entry.start();
    const auth = { username: b.auth.username, password: b.auth.password };
    const root = b.topicRoot + "/fl" + Date.now().toString(36);
    const clients: MqttClient[] = [];
    let fleet: Fleet | undefined;
    try {
      const pub = await mqttjsClient(b.url, { ...auth, clientId: "fl-pub" });
      clients.push(pub);
      const info = JSON.stringify({ fw: "0.3.0", hash: "ef".repeat(20), alg: "sha1", board: "wemos-d1-mini", id: "quiet", cfg: "00".repeat(20), free: 5, boot: "power", n: 0 });
      await pub.publishAsync(root + "/quiet/status", "online", { qos: 1, retain: true });
      await pub.publishAsync(root + "/quiet/info", info, { qos: 1, retain: true });

      fleet = new Fleet({ broker: { url: b.url, ...auth }, topics: [root + "/#"] });
      await fleet.start();
      const f = fleet;
      // The quiet board speaks: a live sensor value, repeated until the monitor has placed it.
      await waitFor(async () => {
        await pub.publishAsync(root + "/quiet/temp", "21.5", { qos: 0 });
        return (f.boards.get(root + "/quiet")?.sensors.get("temp")?.history.len ?? 0) > 0;
      }, 15000, () => "the quiet board and its sensor; boards: " + JSON.stringify(f.rows()), 300);
      const quiet = f.rows().find((r) => r.base == root + "/quiet")!;
      assert.equal(quiet.state, "online");
      assert.equal(quiet.fw, "0.3.0", "its retained info");
      assert.equal(quiet.board, "wemos-d1-mini");

      // A live board with a will.
      const live = await mqttjsClient(b.url, {
        ...auth, clientId: "fl-live", keepalive: 5,
        will: { topic: root + "/live/status", payload: Buffer.from("offline"), qos: 1, retain: true },
      });
      clients.push(live);
      await live.publishAsync(root + "/live/status", "online", { qos: 1, retain: true });
      await live.publishAsync(root + "/live/diag", JSON.stringify({ vars_free: 700, vars_total: 1600, uptime: 3, rssi: -70, reconnects: 0 }), { qos: 0 });
      await waitFor(() => f.rows().find((r) => r.base == root + "/live")?.varsFree == 700, 10000, "the live board's diag");
      assert.equal(f.rows().find((r) => r.base == root + "/live")!.state, "online");
      (live as any).stream.destroy(); // lost without DISCONNECT
      await waitFor(() => f.rows().find((r) => r.base == root + "/live")?.state == "offline", 30000, "offline through the will");

      // Clean up the retained messages this test left.
      for (const t of ["quiet/status", "quiet/info", "live/status"]) await pub.publishAsync(root + "/" + t, "", { qos: 1, retain: true });
    } finally {
      await fleet?.stop();
      for (const c of clients) await c.endAsync(true).catch(() => {});
      await b.stop();
    }
  });
}
