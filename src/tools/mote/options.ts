// Options shared by the `mote` subcommands: the broker URL (credentials in it or as flags), the
// device, the device key. Flags are `--name value` or `--name=value`; what is not a known flag is
// left in `rest` for the subcommand.
import fs from "node:fs";

export interface BrokerOptions {
  url: string;          // mqtt://host:port or mqtts://host:port, credentials removed
  username?: string;
  password?: string;
}

export interface Parsed {
  flags: { [name: string]: string | true };
  rest: string[];
}

/** Splits argv into flags (those named in `valued` take a value) and positional words. */
export function parseArgs(argv: string[], valued: string[]): Parsed {
  const flags: { [name: string]: string | true } = {}, rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) { rest.push(a); continue; }
    const eq = a.indexOf("="), name = a.slice(2, eq < 0 ? undefined : eq);
    if (eq >= 0) flags[name] = a.slice(eq + 1);
    else if (valued.includes(name)) {
      if (i + 1 >= argv.length || argv[i + 1].startsWith("--")) throw new Error("--" + name + " needs a value");
      flags[name] = argv[++i];
    } else flags[name] = true;
  }
  return { flags, rest };
}

/** The broker from --broker (required) and --username/--password (which win over the URL's). */
export function brokerOf(flags: Parsed["flags"]): BrokerOptions {
  const raw = flags.broker;
  if (typeof raw != "string") throw new Error("--broker URL is required (mqtt://host:port or mqtts://host:port)");
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error("--broker: not a URL: " + raw + " (expected mqtt://host:port or mqtts://host:port)");
  }
  if (u.protocol != "mqtt:" && u.protocol != "mqtts:") throw new Error("--broker: " + u.protocol + " is not mqtt: or mqtts:");
  const username = typeof flags.username == "string" ? flags.username : u.username ? decodeURIComponent(u.username) : undefined;
  const password = typeof flags.password == "string" ? flags.password : u.password ? decodeURIComponent(u.password) : undefined;
  u.username = "";
  u.password = "";
  return { url: u.protocol + "//" + u.host, username, password };
}

/** The device key: --key, --key-file, or undefined (the caller then looks in the local key store). */
export function keyOf(flags: Parsed["flags"]): string | undefined {
  if (typeof flags.key == "string") return flags.key;
  if (typeof flags["key-file"] == "string") return fs.readFileSync(flags["key-file"], "utf8").trim();
  return undefined;
}
