// Staying correct across restarts: Home Assistant's birth brings the discovery back, and a renamed or
// removed sensor leaves no ghost in Home Assistant's registry, also when the board's config was edited
// while Home Assistant was down (the board keeps what it announced in Storage), in both modes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mqttjsClient, waitFor, sleep } from "../support/util.js";
import { FakeHomeAssistant } from "../support/ha.js";
import { bootBoard, rebootWith, type Booted, haSuite } from "./ha-common.js";

const suite = haSuite(), { boards, has } = suite;

const SENSORS = [
  { name: "a", type: "analog", pin: "D34", every: 0.2 },
  { name: "b", type: "uptime", every: 0.2 },
  { name: "c", type: "digital", pin: "D5", every: 0.2 },
];
const announced = (b: Booted) => b.board.logs.filter((l) => l.includes("homeassistant: announced")).length;
const uids = (ha: FakeHomeAssistant) => [...ha.entities.values()].map((e) => e.config.unique_id).sort();
/** The board's entities shown, without the restart button and the update entity. */
const userIds = (ha: FakeHomeAssistant, node: string) =>
  uids(ha).filter((u) => u.startsWith(node + "_") && !/_(restart|firmware)$/.test(u)).map((u) => u.slice(node.length + 1));

async function setup(node: string, perEntity: boolean) {
  const ha = new FakeHomeAssistant(suite.broker.url);
  has.push(ha);
  await ha.start();
  const b = bootBoard(suite.broker.port, node, { homeassistant: { per_entity: perEntity }, sensors: structuredClone(SENSORS) }, { diag: false });
  boards.push(b);
  await waitFor(() => userIds(ha, node).length == 3, 8000, () => `discovery: ${uids(ha)}`);
  return { ha, b };
}

for (const perEntity of [false, true]) {
  const mode = perEntity ? "per-entity" : "device";
  const n = perEntity ? "e" : "d";

  test(`${mode} mode: Home Assistant's birth brings the discovery back after it was cleared`, async () => {
    const { ha, b } = await setup(`birth${n}`, perEntity);
    // Home Assistant restarts with the retained discovery gone (e.g. a broker without persistence).
    await ha.stop();
    const c = await mqttjsClient(suite.broker.url);
    const topics = perEntity ? ["sensor/birthe/a", "sensor/birthe/b", "binary_sensor/birthe/c", "button/birthe/restart", "update/birthe/firmware"]
      : ["device/birthd"];
    for (const t of topics) await c.publishAsync(`homeassistant/${t}/config`, "", { qos: 1, retain: true });
    await c.endAsync();
    const k = announced(b);
    await ha.start(false);
    await sleep(300);
    assert.deepEqual(userIds(ha, b.node), [], "nothing retained");
    await ha.client!.publishAsync("homeassistant/status", "online");
    const t0 = Date.now();
    await waitFor(() => userIds(ha, b.node).length == 3, 8000, "discovery after the birth");
    assert.ok(Date.now() - t0 >= 400, "after a random delay (0.5..2 s)");
    await waitFor(() => announced(b) == k + 1, 2000, "one announce");
    // The states follow the announcement.
    await waitFor(() => ["a", "b", "c"].every((x) => ha.entity(b.node, x)?.state !== undefined), 5000, "states");
    assert.deepEqual(ha.errors, []);
  });

  test(`${mode} mode: a renamed and a removed sensor leave no ghost`, async () => {
    const { ha, b } = await setup(`ghost${n}`, perEntity);
    rebootWith(b, (c) => { c.sensors = [{ ...c.sensors[0], name: "a2" }, c.sensors[1]]; });
    await waitFor(() => userIds(ha, b.node).join() == "a2,b", 8000, () => `after the edit: ${uids(ha)}`);
    assert.deepEqual(ha.ghosts().filter((u) => u.startsWith(b.node + "_")), []);
    // A Home Assistant started later sees the same.
    const late = new FakeHomeAssistant(suite.broker.url);
    has.push(late);
    await late.start(false);
    await sleep(500);
    assert.deepEqual(userIds(late, b.node), ["a2", "b"]);
    assert.deepEqual(ha.errors, []);
    assert.deepEqual(late.errors, []);
  });

  test(`${mode} mode: edited while Home Assistant was down, no ghost once it is back`, async () => {
    const { ha, b } = await setup(`down${n}`, perEntity);
    await ha.stop();
    const k = announced(b);
    rebootWith(b, (c) => { c.sensors = [{ ...c.sensors[0], name: "a2" }, c.sensors[1]]; });
    await waitFor(() => announced(b) > k, 8000, "announce on the edited config");
    // Home Assistant comes back: its registry still has a and c; the board answers the birth.
    const k2 = announced(b);
    await ha.start();
    await waitFor(() => announced(b) > k2, 8000, "announce answering the birth");
    await waitFor(() => ha.ghosts().filter((u) => u.startsWith(b.node + "_")).length == 0 && userIds(ha, b.node).join() == "a2,b", 8000,
      () => `ghosts ${ha.ghosts()}, entities ${uids(ha)}`);
    assert.deepEqual(ha.errors, []);
    // The removals were confirmed: forgotten by the board, and nothing comes back on the next birth.
    assert.equal(b.board.storage.readText("mote.ha")!.split("\n")[2].trim(), "");
    const k3 = announced(b);
    await ha.client!.publishAsync("homeassistant/status", "online");
    await waitFor(() => announced(b) > k3, 8000, "announce");
    await sleep(300);
    assert.deepEqual(userIds(ha, b.node), ["a2", "b"]);
    assert.deepEqual(ha.ghosts().filter((u) => u.startsWith(b.node + "_")), []);
  });
}

test("switching from per-entity to device mode empties the per-entity configs", async () => {
  const { ha, b } = await setup("switchmode", true);
  rebootWith(b, (c) => { c.homeassistant = true; });
  await waitFor(() => !!b.board.storage.readText("mote.ha")?.startsWith("d "), 8000, "device mode announced");
  await sleep(500);
  const late = new FakeHomeAssistant(suite.broker.url);
  has.push(late);
  await late.start(false);
  await sleep(500);
  assert.deepEqual(userIds(late, b.node), ["a", "b", "c"]);
  const topics = new Set<string>();
  const c = await mqttjsClient(suite.broker.url);
  c.on("message", (t, m, p) => { if (p.retain && m.length) topics.add(t); });
  await c.subscribeAsync("homeassistant/#");
  await sleep(300);
  await c.endAsync();
  assert.deepEqual([...topics].filter((t) => t.includes("/switchmode")), ["homeassistant/device/switchmode/config"]);
  assert.deepEqual(ha.ghosts(), []);
});
