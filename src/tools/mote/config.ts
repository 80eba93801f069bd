// `mote config get` prints a board's running config (secrets as "***") on stdout.
// `mote config push FILE` validates FILE on the host for the board's type, sends it signed, and exits 0
// only once the board runs it (its info names the hash of what was sent); 3 when it is refused (the
// host's or the board's own error list follows), 4 when the board went back to its previous config,
// 5 on a timeout, 1 for anything else.
import { readFileSync } from "node:fs";
import { EXIT, UsageError } from "./options.js";
import { withRemote } from "./session.js";
import { saveKey } from "./keys.js";

export const USAGE = `usage: mote config get  --broker URL --device CLIENT_ID [--key SECRET | --key-file F]
       mote config push FILE --broker URL --device CLIENT_ID [--key SECRET | --key-file F] [--timeout S] [--drop-remote]

  get           print the board's running config (every secret as "***")
  push FILE     validate FILE for the board's type, send it, wait until the board runs it
                (a secret given as "***" keeps the board's current value)
  --timeout S   get: how long to wait for the board's answer (default 10 s);
                push: how long the board may take to come back on it (default: its remote.confirm + 30 s)
  --drop-remote push a config without "remote" (the board then takes no more commands)
  --base TOPIC  the board's base topic, when the broker does not let us search for it
  --ca FILE     CA certificate of an mqtts:// broker
  --broker URL, --username U, --password P, --device CLIENT_ID, --key SECRET, --key-file F: see mote --help;
  without --key/--key-file the key flash.sh kept for that client id is used.

exit codes: 0 done, 1 failed (no broker, no such board, no key), 2 usage, 3 refused (the errors follow),
            4 rolled back by the board, 5 timeout
`;

export async function run(argv: string[]): Promise<number> {
  let action: string | undefined, file: string | undefined, cfg: Record<string, any> | undefined, drop = false;
  return withRemote("config", argv, { valued: [], flags: ["drop-remote"] }, USAGE, async ({ remote, timeout, say }) => {
    if (action == "get") {
      if (timeout) remote.replyTimeout = timeout;
      const config = await remote.getConfig();
      process.stdout.write(JSON.stringify(config, null, 2) + "\n");
      return EXIT.ok;
    }
    const info = remote.info();
    say(`pushing ${file} to ${info.id} (${info.board}, base ${remote.base})`);
    const result = await remote.pushConfig(cfg as Record<string, any>, {
      timeout, allowNoRemote: drop, onState: (_state, detail) => say(detail),
    });
    say(`done: ${info.id} runs the new config (${result.info.alg} ${result.info.cfg}` +
      `${result.hashChecked ? "" : "; secrets kept by the board, hash not compared"}) after ${(result.ms / 1000).toFixed(1)} s`);
    // A new key in the config is the one the board now checks: keep it where mote looks.
    const newKey = cfg?.remote?.key;
    if (typeof newKey == "string" && newKey != "***") {
      const id = typeof cfg?.mqtt?.client_id == "string" ? cfg.mqtt.client_id : info.id;
      say(`device key for ${id} kept in ${saveKey(id, newKey)}`);
    }
    return EXIT.ok;
  }, (p) => {
    action = p.rest[0];
    if (action != "get" && action != "push") throw new UsageError(action ? `unknown action ${JSON.stringify(action)}` : "get or push?");
    if (action == "get" && p.rest.length > 1) throw new UsageError("config get takes no file");
    if (action == "get" && p.flags["drop-remote"]) throw new UsageError("--drop-remote is for config push");
    if (action == "push") {
      if (p.rest.length != 2) throw new UsageError("config push takes one FILE");
      file = p.rest[1];
      cfg = readConfig(file);
      drop = !!p.flags["drop-remote"];
    }
  });
}

function readConfig(file: string): Record<string, any> {
  let text: string, v: unknown;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code || (e as Error).message}`);
  }
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (!v || typeof v != "object" || Array.isArray(v)) throw new Error(`${file} must hold a JSON object`);
  return v as Record<string, any>;
}
