// Removes tsc output in .build/ whose TypeScript source no longer exists (renamed or deleted
// files), so a stale test or module never runs. Touches nothing else, so it is safe while
// someone else is running tests from .build/.
//
//   node .build/host/src/tools/prune-build.js
//
// .build/fw/<path>.js   <- src/<path>.ts   (tsconfig.json, rootDir src)
// .build/host/<path>.js <- <path>.ts       (tsconfig.host.json, rootDir .)

import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const OUTPUTS: Array<[string, string]> = [[".build/fw", "src"], [".build/host", "."]];

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else yield p;
  }
}

let removed = 0;
for (const [out, root] of OUTPUTS) {
  if (!existsSync(out)) continue;
  for (const file of files(out)) {
    const m = /^(.*)\.js(\.map)?$/.exec(relative(out, file));
    if (!m) continue;
    if (!existsSync(join(root, m[1] + ".ts"))) {
      rmSync(file, { force: true });
      removed++;
    }
  }
}
if (removed) console.log(`prune-build: removed ${removed} stale file(s) from .build/`);
