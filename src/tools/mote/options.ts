// Options shared by the `mote` subcommands: the broker URL (credentials in it or as flags), the
// device, the device key. Flags are `--name value` or `--name=value`; what is not a known flag is
// left in `rest` for the subcommand.
import fs from "node:fs";
import { keyProblem, readKeyFile } from "./keys.js";

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
  if (typeof flags.key == "string" && typeof flags["key-file"] == "string") throw new Error("give --key or --key-file, not both");
  if (typeof flags.key == "string") {
    const problem = keyProblem(flags.key);
    if (problem) throw new Error("--key: " + problem);
    return flags.key;
  }
  if (typeof flags["key-file"] == "string") return readKeyFile(flags["key-file"]);
  return undefined;
}

/** Flags every remote subcommand takes, those with a value. */
export const COMMON_VALUED = ["broker", "username", "password", "device", "key", "key-file", "base", "ca", "timeout"];

/** Exit codes of the remote subcommands (README, "Remote management"). */
export const EXIT = { ok: 0, failed: 1, usage: 2, refused: 3, rollback: 4, timeout: 5 } as const;

/** A usage error: the subcommand prints it with its usage and exits 2. */
export class UsageError extends Error {}

/** Throws a UsageError for a flag that is not in `known`. */
export function rejectUnknown(flags: Parsed["flags"], known: string[]): void {
  for (const name of Object.keys(flags)) if (!known.includes(name)) throw new UsageError("unknown option --" + name);
}

/** A flag holding a positive number of seconds, in ms; undefined when not given. */
export function secondsOf(flags: Parsed["flags"], name: string): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  const s = Number(v);
  if (typeof v != "string" || !(s > 0) || !isFinite(s)) throw new UsageError(`--${name} takes a number of seconds > 0`);
  return Math.round(s * 1000);
}

/** The CA file of --ca, read. */
export function caOf(flags: Parsed["flags"]): Buffer | undefined {
  const f = flags.ca;
  if (f === undefined) return undefined;
  if (typeof f != "string") throw new UsageError("--ca needs a file");
  try {
    return fs.readFileSync(f);
  } catch (e) {
    throw new Error(`--ca: cannot read ${f}: ${(e as NodeJS.ErrnoException).code || (e as Error).message}`);
  }
}
