// `mote ls --broker URL [--json] [--wait S]`: the fleet the monitor shows (fleet.ts), once, as a table
// or as JSON lines (one board per line, the fields of fleet.ts's Row), trouble first.
import { snapshot, troubleFirst, type Row } from "./fleet.js";
import { parseArgs, brokerOf } from "./options.js";

const HELP = `usage: mote ls --broker URL [--json] [--wait SECONDS] [--topics FILTER,...]

Every board on the broker, found from what it publishes (status, info, diag, Home Assistant discovery).
Listens --wait seconds (default 2) for retained state and live messages, then prints and exits.

  --json          one JSON object per board and line (base, id, state, lastSeen, fw, hash, varsFree, ...)
  --topics F,...  filters to watch (default #)
`;

function ago(ms: number | undefined, now: number): string {
  if (ms === undefined) return "-";
  const s = Math.round((now - ms) / 1000);
  return s < 60 ? s + " s ago" : s < 3600 ? Math.floor(s / 60) + " min ago" : Math.floor(s / 3600) + " h ago";
}

export function table(rows: Row[], now = Date.now()): string {
  const head = ["BASE", "STATE", "LAST SEEN", "FIRMWARE", "BOARD", "VARS FREE", "RSSI", "RECONN", "LAST ERROR"];
  const cells = rows.map((r) => [
    r.base, r.state + (r.state == "rolled back" && r.why ? " (" + r.why + ")" : ""), ago(r.lastSeen, now),
    r.fw ? r.fw + " " + (r.hash ?? "").slice(0, 8) : "-", r.board ?? "-",
    r.varsFree !== undefined ? r.varsFree + "/" + (r.varsTotal ?? "?") : "-",
    r.rssi === undefined || r.rssi === null ? "-" : String(r.rssi), r.reconnects === undefined ? "-" : String(r.reconnects),
    r.lastError ?? "",
  ]);
  const all = [head, ...cells], w = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all.map((r) => r.map((c, i) => i == r.length - 1 ? c : c.padEnd(w[i])).join("  ").trimEnd()).join("\n") + "\n";
}

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseArgs(argv, ["broker", "username", "password", "wait", "topics"]);
  if (flags.help) { process.stdout.write(HELP); return 0; }
  const wait = flags.wait === undefined ? 2 : Number(flags.wait);
  if (!(wait >= 0)) throw new Error("--wait: seconds >= 0");
  const rows = (await snapshot({
    broker: brokerOf(flags), topics: typeof flags.topics == "string" ? flags.topics.split(",").filter(Boolean) : undefined,
  }, wait * 1000)).sort(troubleFirst);
  if (flags.json) process.stdout.write(rows.map((r) => JSON.stringify(r) + "\n").join(""));
  else process.stdout.write(rows.length ? table(rows) : "no boards found\n");
  return 0;
}
