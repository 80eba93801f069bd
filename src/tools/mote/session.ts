// What `mote config` and `mote ota` share: flags to a Remote (broker, device, key), failures to a
// message on stderr and an exit code (EXIT in options.ts), and the connection closed in every case.
import { parseArgs, brokerOf, keyOf, caOf, secondsOf, rejectUnknown, COMMON_VALUED, EXIT, UsageError, type Parsed } from "./options.js";
import { Remote, RemoteError } from "./remote.js";

export interface Session {
  remote: Remote;
  parsed: Parsed;
  /** --timeout in ms, when given. */
  timeout?: number;
  /** A line on stderr, prefixed with the command's name. */
  say(line: string): void;
}

const CODE_EXIT: { [code: string]: number } = {
  invalid: EXIT.refused, refused: EXIT.refused, "too-large": EXIT.refused, rollback: EXIT.rollback, timeout: EXIT.timeout,
};

/** The exit code for an error thrown by a Remote (or anything else: 1). */
export function exitCodeOf(e: unknown): number {
  return e instanceof RemoteError ? CODE_EXIT[e.code] ?? EXIT.failed : e instanceof UsageError ? EXIT.usage : EXIT.failed;
}

/** Prints an error: its message, then the board's (or the validator's) own list, one per line. */
export function report(name: string, e: unknown): void {
  const err = e as Error;
  let text = `mote ${name}: ${err.message || String(e)}\n`;
  if (e instanceof RemoteError) for (const line of e.errors) text += `  ${line}\n`;
  process.stderr.write(text);
}

/**
 * Parses argv (the subcommand's own flags in `valued`/`flags`, plus the common ones), opens the board
 * and runs `body`; returns body's exit code, or the one that fits what went wrong.
 */
export async function withRemote(name: string, argv: string[], own: { valued: string[]; flags: string[] }, usage: string,
  body: (s: Session) => Promise<number>, before?: (p: Parsed) => void): Promise<number> {
  const say = (line: string) => process.stderr.write(`mote ${name}: ${line}\n`);
  let parsed: Parsed, remote: Remote | undefined;
  try {
    parsed = parseArgs(argv, [...COMMON_VALUED, ...own.valued]);
    if (parsed.flags.help) { process.stdout.write(usage); return EXIT.ok; }
    rejectUnknown(parsed.flags, [...COMMON_VALUED, ...own.valued, ...own.flags, "help"]);
  } catch (e) {
    process.stderr.write(`mote ${name}: ${(e as Error).message}\n\n${usage}`);
    return EXIT.usage;
  }
  try {
    before?.(parsed); // the subcommand's own checks (its file read): a UsageError, or another failure
  } catch (e) {
    if (!(e instanceof UsageError)) { report(name, e); return EXIT.failed; }
    process.stderr.write(`mote ${name}: ${e.message}\n\n${usage}`);
    return EXIT.usage;
  }
  try {
    const f = parsed.flags;
    let broker, key, ca, timeout;
    try {
      broker = brokerOf(f);
      if (typeof f.device != "string") throw new UsageError("--device CLIENT_ID is required (the board's MQTT client id)");
      if (f.base !== undefined && typeof f.base != "string") throw new UsageError("--base needs a topic");
      key = keyOf(f);
      ca = caOf(f);
      timeout = secondsOf(f, "timeout");
    } catch (e) {
      process.stderr.write(`mote ${name}: ${(e as Error).message}\n\n${usage}`);
      return EXIT.usage;
    }
    remote = await Remote.open(broker, f.device as string, key, {
      base: f.base as string | undefined, ca, keySource: typeof f["key-file"] == "string" ? f["key-file"] : key ? "--key" : undefined,
    });
    return await body({ remote, parsed, timeout, say });
  } catch (e) {
    report(name, e);
    return exitCodeOf(e);
  } finally {
    await remote?.close();
  }
}
