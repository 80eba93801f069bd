#!/usr/bin/env node
// `npx mote <command> ...` in a checkout: runs the host tool built from src/tools/mote.ts,
// building the project first when that build is missing.
import { existsSync } from "node:fs";
import { execSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const entry = join(root, ".build/host/src/tools/mote.js");
if (!existsSync(entry) || !existsSync(join(root, "firmware/mote.js"))) {
  process.stderr.write("mote: building first (npm run build)...\n");
  execSync("npm run build --silent", { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
}
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2));
