import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import crypto from "node:crypto";
import { generateCerts, type CertFiles } from "../support/certs.js";
import { startMosquitto } from "../support/mosquitto.js";
import { mqttjsClient, endClient } from "../support/util.js";

let certs: CertFiles;
before(() => { certs = generateCerts(); });
after(() => { certs.cleanup(); });

test("certs: CA, server, client and an unrelated CA are generated as PEM files", () => {
  for (const f of [certs.caCert, certs.caKey, certs.serverCert, certs.serverKey, certs.clientCert, certs.clientKey, certs.otherCaCert, certs.otherCaKey]) {
    assert.ok(fs.existsSync(f), f);
    assert.match(certs.pem(f), /-----BEGIN [A-Z ]+-----/);
  }
  const server = new crypto.X509Certificate(certs.pem(certs.serverCert));
  const ca = new crypto.X509Certificate(certs.pem(certs.caCert));
  const other = new crypto.X509Certificate(certs.pem(certs.otherCaCert));
  assert.ok(server.verify(ca.publicKey), "server certificate signed by the CA");
  assert.equal(server.verify(other.publicKey), false, "not by the other CA");
  assert.ok(server.checkIP("127.0.0.1"));
  assert.ok(server.checkHost("localhost"));
  assert.ok(ca.ca && other.ca && !server.ca);
});

test("certs + mosquitto tls: the right CA connects, the unrelated CA is refused", async () => {
  const m = await startMosquitto({ tls: { cafile: certs.caCert, certfile: certs.serverCert, keyfile: certs.serverKey } });
  try {
    assert.match(m.url, /^mqtts:\/\/127\.0\.0\.1:/);
    const ok = await mqttjsClient(m.url, { ca: certs.pem(certs.caCert), rejectUnauthorized: true });
    await endClient(ok);
    const okByName = await mqttjsClient(`mqtts://localhost:${m.port}`, { ca: certs.pem(certs.caCert), rejectUnauthorized: true });
    await endClient(okByName);
    await assert.rejects(
      mqttjsClient(m.url, { ca: certs.pem(certs.otherCaCert), rejectUnauthorized: true }),
      /self[- ]signed|unable to (verify|get)|certificate/i,
    );
  } finally {
    await m.stop();
  }
});

test("certs + mosquitto tls: require_certificate accepts the generated client certificate only", async () => {
  const m = await startMosquitto({
    tls: { cafile: certs.caCert, certfile: certs.serverCert, keyfile: certs.serverKey, requireCertificate: true },
  });
  try {
    const ok = await mqttjsClient(m.url, {
      ca: certs.pem(certs.caCert),
      cert: certs.pem(certs.clientCert),
      key: certs.pem(certs.clientKey),
    });
    await endClient(ok);
    await assert.rejects(mqttjsClient(m.url, { ca: certs.pem(certs.caCert) }));
  } finally {
    await m.stop();
  }
});
