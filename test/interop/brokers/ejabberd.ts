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
  ACCESS, USER, type Broker, debianVersion, erlangEnv, fileSize, findExecutable, freePorts, loopbackEndpoint, nodeSuffix, privateDir,
  quirks, spawnGroup, startEpmd, superviseProcess, tail, textSince, waitReady,
} from "./common.js";
import { LOOPBACK } from "../../support/util.js";
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
  const { restart, stop } = await superviseProcess(async (own) => {
    const from = fileSize(out);
    const proc = own(spawnGroup(erl, args, { cwd: dir, env, logFile: out }));
    await waitReady(proc, mqttPort, 30000, out, "ejabberd", () => textSince(out, from).includes(REGISTERED));
    const line = textSince(out, from).split("\n").find((l) => l.includes(REGISTERED)) ?? "";
    if (!/ ok$|exists/.test(line.trim())) throw new Error(`ejabberd: registering ${USER.username} failed: ${line}\n${tail(logFile, 15)}`);
  }, {
    // SIGTERM: the VM runs init:stop (Mnesia closed cleanly).
    graceMs: 15000, dir, epmd,
  });
  const m = /ejabberd (\S+) is started/.exec(tail(logFile, 200));
  const version = m ? m[1] : debianVersion("ejabberd") || "?";
  return {
    id: "ejabberd",
    name: "ejabberd (mod_mqtt)",
    version,
    ...loopbackEndpoint(mqttPort),
    ...ACCESS,
    quirks: quirks({ subscribeRefusal: "suback-0x8f", sessionSurvivesRestart: false }),
    restart,
    stop,
    logTail: (n = 20) => tail(logFile, n),
  };
}
