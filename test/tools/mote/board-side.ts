// Whether the board side of remote management is in this checkout: the Storage module
// firmware/mote-remote.js, and a config validator that knows `remote`. Tests that need it call
// requireBoardSide(t): without it they fail under CI (CI=true) with a message saying what is missing,
// and elsewhere they are skipped with that message shown (never silently).
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { ROOT, checkConfig } from "../../../src/tools/config-check.js";

export const REMOTE_MODULE = join(ROOT, "firmware/mote-remote.js");

/** What of the board side is missing, or "" when it is all there. */
export function boardSideMissing(need: { module?: boolean } = { module: true }): string {
  const missing: string[] = [];
  const errs = checkConfig({ wifi: { ssid: "n" }, mqtt: { host: "h" }, remote: { key: "k".repeat(24), confirm: 30 } });
  if (errs.some((e) => e.startsWith("remote"))) missing.push(`the config validator does not accept \`remote\` (${errs.join("; ")})`);
  if (need.module && !existsSync(REMOTE_MODULE)) missing.push(`${REMOTE_MODULE} is missing`);
  return missing.join("; and ");
}

/**
 * True when the test can go on. Otherwise: under CI an assertion failure naming what is missing;
 * elsewhere t.skip() with that text (shown in the test report).
 */
export function requireBoardSide(t: TestContext, need: { module?: boolean } = { module: true }): boolean {
  const missing = boardSideMissing(need);
  if (!missing) return true;
  const msg = `remote management's board side (branch feat/remote-board) is not in this checkout: ${missing}`;
  if (process.env.CI == "true") throw new Error(msg);
  t.skip(msg);
  return false;
}
