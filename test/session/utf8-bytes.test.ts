// Non-ASCII topics and client ids on both kinds of Espruino build, the built firmware/mote-mqtt.js in
// the simulator against Mosquitto, mqtt.js on the other side:
// - strings are bytes (the ESP32/ESP8266 firmware, no Unicode support): "é" in a board's source is
//   already its UTF-8 bytes C3 A9, so it goes out as it is and comes back as those bytes;
// - strings are text (Unicode builds, and Node): "é" is one character, encoded to UTF-8 on the way out
//   and decoded on the way in.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startMosquitto } from "../support/mosquitto.js";
import { mqttjsClient, endClient, collect, sleep } from "../support/util.js";
import { cleanup, device, noUncaught } from "./harness.js";

const hex = (s: string) => Buffer.from(s, "latin1").toString("hex");

for (const bytes of [true, false]) {
  const kind = bytes ? "strings are bytes (ESP32/ESP8266 firmware)" : "strings are text (Unicode build)";
  // How the board's source holds "é" and "ü".
  const e = bytes ? "\xc3\xa9" : "é", u = bytes ? "\xc3\xbc" : "ü";

  test(`[MQTT-1.5.3-1] UTF-8 topics and client id, ${kind}: sent once encoded, received as the board writes them`, { timeout: 20000 }, async (t) => {
    const env = cleanup(t);
    const mosq = env.add(await startMosquitto(), (m) => m.stop());
    const other = env.add(await mqttjsClient(mosq.url, { clientId: "x-utf8" }), (c) => endClient(c));
    const got = collect(other, "t/é/out");
    await other.subscribeAsync("t/é/out", { qos: 1 });

    const dev = env.add(device(mosq.port, { client_id: `dev-${e}`, keep_alive: 10 }, { bytes: bytes }), (d) => d.close());
    await dev.connect();
    await dev.subscribe(`t/${e}/in`, 1);

    assert.equal(dev.client.publish(`t/${e}/out`, u, { qos: 1 }), true);
    await got.waitForCount(1);
    const m = got.messages[0];
    assert.equal(m.topic, "t/é/out", "the broker has the topic in UTF-8, encoded once");
    // A string payload is bytes on a bytes build; on a Unicode build text beyond Latin-1 is UTF-8, Latin-1 is bytes.
    assert.equal(m.payload.toString("hex"), bytes ? "c3bc" : "fc");

    await other.publishAsync("t/é/in", Buffer.from("ü", "utf8"), { qos: 1 });
    const [ev] = await dev.waitEvent("message");
    assert.equal(hex(ev.args[0] as string), hex(`t/${e}/in`), "the inbound topic compares equal to the board's own literal");
    assert.equal(hex(ev.args[1] as string), "c3bc", "the payload is the bytes sent");

    // Not UTF-8: refused, not sent garbled.
    const bad = bytes ? "t/\xc3" : "t/\ud800";
    assert.equal(dev.client.publish(bad, "x"), false);
    await dev.waitEvent("error");
    assert.deepEqual(dev.errors().map((x) => x.code), ["invalid_topic"]);
    await sleep(200);
    assert.equal(got.messages.length, 1, "nothing else reached the broker");
    noUncaught(dev);
  });
}
