// RabbitMQ with the rabbitmq_mqtt plugin (Debian `rabbitmq-server`) as a private node: its own node name,
// config, enabled-plugins file, Mnesia and log dirs, HOME (Erlang cookie) and epmd, all under one temp dir;
// AMQP, MQTT and the distribution port on free loopback ports. /etc/rabbitmq is never read (the env file
// is replaced by an empty private one) and the system service is not involved.
//
// Users and permissions come from a definitions file loaded at boot (no rabbitmqctl needed): user "mote",
// full vhost permissions, and a topic permission that refuses reading "forbidden.*" (MQTT "forbidden/..."),
// which is how RabbitMQ authorises MQTT subscriptions.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import {
  ACCESS, USER, type Broker, debianVersion, erlangEnv, fileSize, findExecutable, freePorts, loopbackEndpoint, nodeSuffix, privateDir,
  quirks, spawnGroup, startEpmd, superviseProcess, tail, textSince, waitReady,
} from "./common.js";
import { LOOPBACK } from "../../support/util.js";

/** rabbit_password_hashing_sha256: base64(salt ++ sha256(salt ++ password)), 4-byte salt. */
function passwordHash(password: string): string {
  const salt = crypto.randomBytes(4);
  const digest = crypto.createHash("sha256").update(Buffer.concat([salt, Buffer.from(password, "utf8")])).digest();
  return Buffer.concat([salt, digest]).toString("base64");
}

export async function startRabbitMQBroker(): Promise<Broker> {
  const server = findExecutable("rabbitmq-server", ["/usr/lib/rabbitmq/bin/rabbitmq-server"], "RABBITMQ_SERVER");
  if (!server) throw new Error("RabbitMQ not found: apt-get install rabbitmq-server (Debian package; .ci/run installs it)");
  const dir = privateDir("rabbitmq");
  const epmd = await startEpmd(dir);
  const [amqpPort, mqttPort, distPort] = await freePorts(3);
  const node = `mote_interop_${nodeSuffix()}@localhost`;
  const files = {
    conf: path.join(dir, "rabbitmq.conf"),
    defs: path.join(dir, "definitions.json"),
    plugins: path.join(dir, "enabled_plugins"),
    envConf: path.join(dir, "rabbitmq-env.conf"),
    mnesia: path.join(dir, "mnesia"),
    logs: path.join(dir, "log"),
    out: path.join(dir, "server.out"),
  };
  fs.mkdirSync(files.mnesia);
  fs.mkdirSync(files.logs);
  fs.writeFileSync(files.envConf, "# private instance: no settings from /etc/rabbitmq\n");
  fs.writeFileSync(files.plugins, "[rabbitmq_mqtt].\n");
  fs.writeFileSync(files.defs, JSON.stringify({
    users: [{ name: USER.username, password_hash: passwordHash(USER.password), hashing_algorithm: "rabbit_password_hashing_sha256", tags: ["administrator"] }],
    vhosts: [{ name: "/" }],
    permissions: [{ user: USER.username, vhost: "/", configure: ".*", write: ".*", read: ".*" }],
    topic_permissions: [{ user: USER.username, vhost: "/", exchange: "amq.topic", write: ".*", read: "^(?!forbidden\\.).*" }],
  }, null, 2));
  fs.writeFileSync(files.conf, [
    `listeners.tcp.default = ${LOOPBACK}:${amqpPort}`,
    `mqtt.listeners.tcp.default = ${LOOPBACK}:${mqttPort}`,
    "mqtt.allow_anonymous = false",
    `load_definitions = ${files.defs}`,
    "loopback_users = none",
    "log.console = false",
    "log.file.level = info",
    "",
  ].join("\n"));
  const env: NodeJS.ProcessEnv = {
    ...erlangEnv(dir, epmd),
    RABBITMQ_CONF_ENV_FILE: files.envConf,
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: LOOPBACK,
    RABBITMQ_NODE_PORT: String(amqpPort),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_CONFIG_FILE: files.conf,
    RABBITMQ_ENABLED_PLUGINS_FILE: files.plugins,
    RABBITMQ_MNESIA_BASE: files.mnesia,
    RABBITMQ_LOG_BASE: files.logs,
    RABBITMQ_PID_FILE: path.join(dir, "rabbitmq.pid"),
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, "advanced.config"),
    // The distribution listener on loopback only; epmd is ours (already running).
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
  };
  const logFile = path.join(files.logs, `${node}.log`);

  const { restart, stop } = await superviseProcess(async (own) => {
    const from = fileSize(logFile);
    const proc = own(spawnGroup(server, [], { cwd: dir, env, logFile: files.out }));
    // "Server startup complete" is logged once every plugin (the MQTT listener too) is up.
    const started = () => textSince(logFile, from).includes("Server startup complete");
    await waitReady(proc, mqttPort, 60000, fs.existsSync(logFile) ? logFile : files.out, "rabbitmq", started);
  }, {
    // SIGTERM to the wrapper script's group: the VM shuts down cleanly (queues and retained store saved).
    graceMs: 20000, dir, epmd,
  });
  const m = /RabbitMQ (\d+\.\d+\.\d+)/.exec(tail(logFile, 400)) ?? /RabbitMQ (\d+\.\d+\.\d+)/.exec(tail(files.out, 100));
  const version = m ? m[1] : debianVersion("rabbitmq-server") || "?";

  return {
    id: "rabbitmq",
    name: "RabbitMQ (rabbitmq_mqtt)",
    version,
    ...loopbackEndpoint(mqttPort),
    ...ACCESS,
    quirks: quirks({
      qos2Publish: "puback",
      maxGrantedQos: 1,
      retainedToWildcards: false,
      subscribeRefusal: "close",
      sessionSurvivesRestart: true,
      silentDrop: { factor: 3, slackS: 0, note: "a silent client is dropped after 3x keep-alive (not 1.5x): its will comes that much later" },
    }),
    restart,
    stop,
    logTail: (n = 20) => tail(logFile, n) || tail(files.out, n),
  };
}
