// Username/password: the BUILT firmware/mote-mqtt.js in the host simulator against a Mosquitto with a
// password file (mosquitto_passwd). The CONNACK code Mosquitto sends for bad credentials is asked from
// the broker itself (mqtt.js with the same credentials) and the client's error code must be its name.
// Mosquitto is required: when absent, startMosquitto() throws and the tests fail (never skip).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startMosquitto, type MosquittoInstance } from "../support/mosquitto.js";
import { startProxy } from "../support/proxy.js";
import { mqttjsClient, mqttjsConnackCode, endClient, collect, sleep } from "../support/util.js";
import { device, cleanup, noUncaught } from "../session/harness.js";

const USER = "mote-u5er-q7";
const PASS = "s3cr3t-P4ss-xyz";
const WATCHER = { username: "watcher", password: "watcher-pw-1" };
/** The client's error code for CONNACK return codes 1..5 (issue 2). */
const REFUSED = ["", "bad_protocol", "id_rejected", "server_unavailable", "bad_credentials", "not_authorized"];

let broker: MosquittoInstance;

before(async () => {
  broker = await startMosquitto({ passwordFile: { [USER]: PASS, [WATCHER.username]: WATCHER.password } });
});
after(async () => {
  await broker?.stop();
});

test("credentials: the right username/password connect; the broker refuses anonymous clients", async (t) => {
  const env = cleanup(t);
  // The broker really checks: no credentials, no connection.
  const anon = await mqttjsConnackCode(broker.url, { clientId: "anon" });
  assert.ok(anon === 4 || anon === 5, `anonymous refused with CONNACK ${anon}`);

  const other = env.add(await mqttjsClient(broker.url, { ...WATCHER, clientId: "watcher-1" }), (c) => endClient(c));
  const got = collect(other, "sec/cred/#");
  await other.subscribeAsync("sec/cred/#", { qos: 1 });
  const dev = env.add(device(broker.port, { client_id: "cred-ok", username: USER, password: PASS }), (d) => d.close());
  await dev.connect();
  assert.equal(dev.client.publish("sec/cred/x", "hi", dev.board.run("({qos: 1})")), true);
  await got.waitForCount(1);
  assert.equal(got.payloads()[0], "hi");
  assert.deepEqual(dev.errors(), []);
  noUncaught(dev);
});

test("credentials: refused logins (wrong password, unknown user, no password) report the CONNACK code Mosquitto sent", async (t) => {
  const env = cleanup(t);
  const cases: [string, { username?: string; password?: string }][] = [
    ["wrong password", { username: USER, password: "wr0ng-P4ss-abc" }],
    ["unknown user", { username: "nobody-here", password: PASS }],
    ["username without password", { username: USER }],
  ];
  for (const [what, cred] of cases) {
    const rc = await mqttjsConnackCode(broker.url, { clientId: `probe-${cases.findIndex((c) => c[0] == what)}`, ...cred });
    assert.ok(rc === 4 || rc === 5, `${what}: Mosquitto answers CONNACK ${rc}`);
    t.diagnostic(`${what}: Mosquitto sent CONNACK ${rc} (${REFUSED[rc]})`);
    const dev = env.add(device(broker.port, { client_id: "cred-refused", reconnect: false, ...cred }), (d) => d.close());
    dev.client.connect();
    const [e] = await dev.waitEvent("error");
    assert.equal(String(e.args[0].code), REFUSED[rc], `${what}: code for CONNACK ${rc}`);
    assert.match(String(e.args[0].message), new RegExp(`\\(CONNACK ${rc}\\)`), `${what}: message names the CONNACK code`);
    await dev.board.flush();
    assert.equal(dev.count("connected"), 0, what);
    noUncaught(dev);
  }
});

test("credentials: a wrong password gives a clear error and the client backs off (<= 4 attempts in 6 s)", async (t) => {
  const env = cleanup(t);
  const WRONG = "wr0ng-P4ss-abc";
  const rc = await mqttjsConnackCode(broker.url, { clientId: "probe-wrong", username: USER, password: WRONG });
  const proxy = env.add(await startProxy({ targetPort: broker.port }), (p) => p.close());
  const dev = env.add(device(proxy.port, { client_id: "cred-backoff", username: USER, password: WRONG }), (d) => d.close());
  const t0 = Date.now();
  dev.client.connect();
  await sleep(6000);
  const attempts = proxy.attemptsSince(t0);
  const errs = dev.errors();
  assert.equal(dev.count("connected"), 0, "never connected");
  // Backoff 1 s doubling, jittered down to half: attempts at 0, >= 0.5, >= 1.5, >= 3.5, >= 7.5 s.
  assert.ok(attempts >= 2 && attempts <= 4, `${attempts} connection attempts in 6 s (expected 2..4)`);
  assert.equal(errs.length, attempts, `one error per attempt: ${JSON.stringify(errs)}`);
  for (const e of errs) {
    assert.equal(e.code, REFUSED[rc], `CONNACK ${rc} is reported as ${REFUSED[rc]}`);
    assert.match(e.message, /refused/);
    assert.match(e.message, new RegExp(`\\(CONNACK ${rc}\\)`));
  }
  // The gaps between attempts grow (each at least half a second: no tight loop).
  const at = proxy.attempts.filter((a) => a >= t0);
  const gaps = at.slice(1).map((a, i) => a - at[i]);
  t.diagnostic(`CONNACK ${rc} (${REFUSED[rc]}); ${attempts} attempts in 6 s, gaps ${JSON.stringify(gaps)} ms`);
  assert.ok(gaps.every((g) => g >= 450), `gaps ${JSON.stringify(gaps)} ms`);
  for (let i = 1; i < gaps.length; i++) assert.ok(gaps[i] >= gaps[i - 1] - 100, `gaps grow: ${JSON.stringify(gaps)} ms`);
  noUncaught(dev);
});
