// ejabberd with mod_mqtt (Debian `ejabberd`) as a private Erlang node, started at the `erl` level (what
// ejabberdctl does, minus its switch to the system "ejabberd" user and /etc, /var paths): own node name,
// config (EJABBERD_CONFIG_PATH), Mnesia spool (-mnesia dir), log (EJABBERD_LOG_PATH), HOME (cookie) and
// epmd, under one temp dir; mod_mqtt on a free loopback port, no XMPP listeners.
//
// mod_mqtt authenticates against ejabberd accounts, so the node registers user "mote" right after it
// started (ejabberd_auth:try_register/3, which is what `ejabberdctl register` calls), before the suite
// connects. access_subscribe is an allow-list: a filter no rule allows is refused, so only "it/#" (every
// scenario topic) is allowed and "forbidden/x" is refused.
import fs from "node:fs";
import path from "node:path";
import {
  SPEC_SILENT_DROP, type Broker, debianVersion, erlangEnv, findExecutable, freePorts, nodeSuffix, privateDir, removeDir, spawnGroup,
  startEpmd, tail, waitReady, type Proc,
} from "./common.js";
import { LOOPBACK } from "../../support/util.js";

const USER = { username: "mote", password: "mote-secret" };
const XMPP_HOST = "localhost";
const REGISTERED = "MOTE-INTEROP-REGISTER";

/** The dir holding ejabberd-<version>/ebin (ERL_LIBS for the node). */
function ejabberdLibs(): string | undefined {
  for (const d of ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib/ejabberd", "/usr/lib"]) {
    try {
      if (fs.readdirSync(d).some((n) => /^ejabberd-\d/.test(n) && fs.existsSync(path.join(d, n, "ebin", "ejabberd.app")))) return d;
    } catch { /* next */ }
  }
  return undefined;
}

export async function startEjabberdBroker(): Promise<Broker> {
  const erl = findExecutable("erl", ["/usr/bin/erl"], "ERL");
  const libs = ejabberdLibs();
  if (!erl || !libs) throw new Error("ejabberd not found: apt-get install ejabberd (Debian package; .ci/run installs it)");
  const dir = privateDir("ejabberd");
  const epmd = await startEpmd(dir);
  const [mqttPort, distPort] = await freePorts(2);
  const node = `mote_interop_${nodeSuffix()}@localhost`;
  const conf = path.join(dir, "ejabberd.yml");
  const spool = path.join(dir, "spool");
  const logFile = path.join(dir, "ejabberd.log");
  const out = path.join(dir, "node.out");
  fs.mkdirSync(spool);
  fs.writeFileSync(conf, [
    "hosts:",
    `  - "${XMPP_HOST}"`,
    "loglevel: info",
    "log_rotate_count: 0",
    "auth_method: internal",
    "listen:",
    "  -",
    `    port: ${mqttPort}`,
    `    ip: "${LOOPBACK}"`,
    "    module: mod_mqtt",
    "    backlog: 1000",
    "modules:",
    "  mod_mqtt:",
    "    access_subscribe:",
    '      "it/#":',
    "        - allow",
    "",
  ].join("\n"));
  const register = `io:format("~s ~p~n", ["${REGISTERED}", ejabberd_auth:try_register(<<"${USER.username}">>, <<"${XMPP_HOST}">>, <<"${USER.password}">>)])`;
  const args = [
    "-sname", node, "-noinput", "-start_epmd", "false",
    "-kernel", "inet_dist_use_interface", "{127,0,0,1}", "inet_dist_listen_min", String(distPort), "inet_dist_listen_max", String(distPort),
    "-mnesia", "dir", JSON.stringify(spool),
    "-s", "ejabberd",
    "-eval", register,
  ];
  const env: NodeJS.ProcessEnv = {
    ...erlangEnv(dir, epmd),
    ERL_LIBS: libs,
    EJABBERD_CONFIG_PATH: conf,
    EJABBERD_LOG_PATH: logFile,
    ERL_CRASH_DUMP: path.join(dir, "erl_crash.dump"),
    CONTRIB_MODULES_PATH: path.join(dir, "contrib"),
  };
  let proc: Proc | undefined;
  let stopped = false;
  const launch = async () => {
    const from = (() => { try { return fs.statSync(out).size; } catch { return 0; } })();
    proc = spawnGroup(erl, args, { cwd: dir, env, logFile: out });
    const registered = () => {
      try {
        return fs.readFileSync(out, "utf8").slice(from).includes(REGISTERED);
      } catch {
        return false;
      }
    };
    await waitReady(proc, mqttPort, 30000, out, "ejabberd", registered);
    const line = fs.readFileSync(out, "utf8").slice(from).split("\n").find((l) => l.includes(REGISTERED)) ?? "";
    if (!/ ok$|exists/.test(line.trim())) throw new Error(`ejabberd: registering ${USER.username} failed: ${line}\n${tail(logFile, 15)}`);
  };
  const halt = async () => {
    // SIGTERM: the VM runs init:stop (Mnesia closed cleanly).
    if (proc) await proc.stop(15000);
    proc = undefined;
  };
  try {
    await launch();
  } catch (e) {
    await halt();
    await epmd.stop();
    removeDir(dir);
    throw e;
  }
  const m = /ejabberd (\S+) is started/.exec(tail(logFile, 200));
  const version = m ? m[1] : debianVersion("ejabberd") || "?";
  return {
    id: "ejabberd",
    name: "ejabberd (mod_mqtt)",
    version,
    host: LOOPBACK,
    port: mqttPort,
    url: `mqtt://${LOOPBACK}:${mqttPort}`,
    auth: USER,
    badAuth: { username: USER.username, password: "wrong" },
    forbiddenFilter: "forbidden/x",
    topicRoot: "it",
    quirks: {
      qos2Publish: "pubrec",
      maxGrantedQos: 2,
      retainedToWildcards: true,
      subscribeRefusal: "suback-0x8f",
      sessionSurvivesRestart: false,
      silentDrop: SPEC_SILENT_DROP,
    },
    async restart() {
      await halt();
      await launch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await halt();
      await epmd.stop();
      removeDir(dir);
    },
    logTail: (n = 20) => tail(logFile, n),
  };
}
