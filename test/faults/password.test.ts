// Fault: a wrong password (Mosquitto password file), watched for 10 s through the proxy. What
// test/security/credentials.test.ts checks over 6 s (clear error, growing gaps) is not repeated; this
// adds the issue-4 counts: at most 5 attempts in 10 s (backoff 1 s doubling, jittered to d/2..d: attempts
// at >= 0, 0.5, 1.5, 3.5, 7.5 s, the next at >= 15.5 s) and one refusal error, with its code, per attempt.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startMosquitto } from "../support/mosquitto.js";
import { startProxy } from "../support/proxy.js";
import { mqttjsConnackCode, sleep } from "../support/util.js";
import { cleanup, device, noUncaught } from "../session/harness.js";
import { gaps, maxAttemptsWithin } from "./common.js";

const REFUSED = ["", "bad_protocol", "id_rejected", "server_unavailable", "bad_credentials", "not_authorized"];
const WINDOW = 10000;

test("wrong password: <= 5 attempts in 10 s, each refused with the CONNACK code as error code", { timeout: WINDOW + 15000 }, async (t) => {
  const env = cleanup(t);
  const mosq = env.add(await startMosquitto({ passwordFile: { "fx-user": "right-pw" } }), (m) => m.stop());
  const rc = await mqttjsConnackCode(mosq.url, { clientId: "fx-probe", username: "fx-user", password: "wrong-pw" });
  assert.ok(rc === 4 || rc === 5, `Mosquitto refuses the wrong password with CONNACK ${rc}`);
  const proxy = env.add(await startProxy({ targetPort: mosq.port }), (p) => p.close());
  const dev = env.add(device(proxy.port, { client_id: "fx-pw", keep_alive: 10, username: "fx-user", password: "wrong-pw" }),
    (d) => d.close());

  const t0 = Date.now();
  dev.client.connect();
  await sleep(WINDOW);
  const attempts = proxy.attempts.filter((a) => a >= t0 && a < t0 + WINDOW);
  // What the last attempt of the window answered is in by now (a CONNACK takes milliseconds).
  const errs = dev.errors().filter((e) => e.at < t0 + WINDOW + 200);
  dev.client.disconnect();

  t.diagnostic(`CONNACK ${rc}: ${attempts.length} attempts in ${WINDOW / 1000} s, gaps ${JSON.stringify(gaps(attempts))} ms; ` +
    `errors ${JSON.stringify(errs.map((e) => e.code))}`);
  assert.equal(maxAttemptsWithin(WINDOW), 5, "the schedule allows 5");
  assert.ok(attempts.length >= 3 && attempts.length <= 5, `${attempts.length} attempts in 10 s (3..5)`);
  assert.equal(errs.length, attempts.length, "one error per attempt");
  for (const e of errs) {
    assert.equal(e.code, REFUSED[rc], `error code for CONNACK ${rc}`);
    assert.match(e.message, new RegExp(`\\(CONNACK ${rc}\\)`));
  }
  assert.ok(gaps(attempts).every((g) => g >= 450), "no tight loop");
  assert.equal(dev.count("connected"), 0);
  assert.ok(!JSON.stringify(dev.errors()).includes("wrong-pw"), "the password is in no error");
  noUncaught(dev);
});
