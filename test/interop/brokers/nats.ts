// NATS server with MQTT (Debian `nats-server`) as a private instance: config, JetStream store and log
// in one temp dir, the NATS client port and the MQTT port on free loopback ports.
// MQTT in NATS needs JetStream (sessions, retained messages and QoS 1 delivery live in streams) and a
// server_name. Users come from the config's authorization block; "forbidden.>" (MQTT "forbidden/...")
// is denied to subscribe, which NATS answers with SUBACK 0x80.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
  ACCESS, USER, type Broker, findExecutable, freePorts, loopbackEndpoint, privateDir, quirks, spawnGroup, superviseProcess, tail, waitReady,
} from "./common.js";
import { LOOPBACK } from "../../support/util.js";

export async function startNatsBroker(): Promise<Broker> {
  const bin = findExecutable("nats-server", ["/usr/sbin/nats-server", "/usr/bin/nats-server"], "NATS_SERVER");
  if (!bin) throw new Error("nats-server not found: apt-get install nats-server (Debian package; .ci/run installs it)");
  const dir = privateDir("nats");
  const [clientPort, mqttPort] = await freePorts(2);
  const conf = path.join(dir, "nats.conf");
  const logFile = path.join(dir, "nats.log");
  fs.writeFileSync(conf, [
    `server_name: mote_interop_${clientPort}`,
    `listen: "${LOOPBACK}:${clientPort}"`,
    `jetstream { store_dir: ${JSON.stringify(path.join(dir, "jetstream"))} }`,
    "authorization {",
    "  users = [",
    `    { user: ${JSON.stringify(USER.username)}, password: ${JSON.stringify(USER.password)},`,
    "      permissions: { subscribe: { deny: [\"forbidden.>\", \"forbidden\"] } } }",
    "  ]",
    "}",
    `mqtt { listen: "${LOOPBACK}:${mqttPort}" }`,
    "",
  ].join("\n"));
  const { restart, stop } = await superviseProcess(async (own) => {
    const proc = own(spawnGroup(bin, ["-c", conf], { cwd: dir, env: { PATH: process.env.PATH }, logFile }));
    await waitReady(proc, mqttPort, 15000, logFile, "nats-server");
  }, { graceMs: 10000, dir });
  let version = "?";
  try {
    version = execFileSync(bin, ["--version"], { encoding: "utf8" }).trim().replace(/^nats-server:\s*v?/, "");
  } catch { /* keep "?" */ }
  return {
    id: "nats",
    name: "NATS (MQTT)",
    version,
    ...loopbackEndpoint(mqttPort),
    ...ACCESS,
    quirks: quirks({ qos2Publish: "disconnect", maxGrantedQos: 1, sessionSurvivesRestart: true }),
    restart,
    stop,
    logTail: (n = 20) => tail(logFile, n),
  };
}
