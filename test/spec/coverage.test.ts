// The spec coverage map (test/spec-coverage.md) against the test sources: every MQTT 3.1.1 client
// statement is checked by a test whose title names its id, or explained in one line. Reads the .ts
// sources of test/ (found from the repository root, wherever this file was compiled to) and, when it
// is there, ../shared/spec/mqtt-3.1.1-client-statements.tsv beside the repository.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { testTitles } from "./titles.js";
import type { Title } from "./titles.js";

/** The repository root: the first directory up from here with package.json, src/ and test/. */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (["package.json", "src", "test"].every((f) => fs.existsSync(path.join(dir, f)))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no repository root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

const ROOT = repoRoot();
const MAP = path.join(ROOT, "test", "spec-coverage.md");
const STATEMENTS = path.resolve(ROOT, "..", "shared", "spec", "mqtt-3.1.1-client-statements.tsv");
const ID_FORMAT = /^MQTT-\d+\.\d+\.\d+-\d+$/;
const ROLES = new Set(["C", "R", "B", "WS"]);
const NONE = new Set(["", "-", "—", "–"]);

interface Row { line: number; id: string; role: string; covered: string; files: string[]; note: string }

function readMap(): Row[] {
  const rows: Row[] = [];
  fs.readFileSync(MAP, "utf8").split("\n").forEach((text, i) => {
    if (!/^\|\s*MQTT-/.test(text)) return;
    const cells = text.trim().replace(/^\||\|$/g, "").split("|").map((c) => c.trim());
    const [id, role, covered = "", note = ""] = cells;
    rows.push({ line: i + 1, id, role, covered: NONE.has(covered) ? "" : covered,
      files: [...new Set(covered.match(/test\/[\w\-./]+\.test\.ts/g) || [])], note: NONE.has(note) ? "" : note });
  });
  return rows;
}

function testSources(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) { if (e.name !== "node_modules") walk(p); } else if (e.name.endsWith(".test.ts")) out.push(p);
    }
  };
  walk(path.join(ROOT, "test"));
  return out.sort();
}

const rows = readMap();
let titlesCache: Title[] | undefined;
const titles = () => (titlesCache ??= testTitles(testSources(), ROOT));
/** Files (relative to the root) with a test title naming `id`. */
const filesNaming = (id: string) => new Set(titles().filter((t) => t.ids.includes(id)).map((t) => t.file));

test("spec coverage: test/spec-coverage.md has one row per id, each with a valid id and role", () => {
  assert.ok(rows.length > 0, `no table rows in ${MAP}`);
  const problems: string[] = [];
  const seen = new Map<string, number>();
  for (const r of rows) {
    if (!ID_FORMAT.test(r.id)) problems.push(`line ${r.line}: "${r.id}" is not an id like MQTT-3.1.2-23`);
    if (!ROLES.has(r.role)) problems.push(`line ${r.line}: ${r.id} has role "${r.role}" (C, R, B or WS)`);
    if (seen.has(r.id)) problems.push(`line ${r.line}: ${r.id} already on line ${seen.get(r.id)}`);
    seen.set(r.id, r.line);
  }
  assert.deepEqual(problems, []);
});

test("spec coverage: every id is covered by a test title naming it or explained in one line", () => {
  const missing = rows.filter((r) => !r.covered && !r.note)
    .map((r) => {
      const could = [...filesNaming(r.id)];
      return `${r.id} (line ${r.line}): neither covered nor explained` + (could.length ? `; titles naming it: ${could.join(", ")}` : "");
    });
  assert.deepEqual(missing, [], `ids neither covered nor explained:\n${missing.join("\n")}`);
});

test("spec coverage: each id marked covered has a test title containing [id] in every file the map names for it", () => {
  const problems: string[] = [];
  for (const r of rows.filter((x) => x.covered)) {
    if (!r.files.length) { problems.push(`${r.id} (line ${r.line}): "covered by" names no test/....test.ts file`); continue; }
    const naming = filesNaming(r.id);
    for (const f of r.files) {
      if (!fs.existsSync(path.join(ROOT, f))) problems.push(`${r.id}: ${f} does not exist`);
      else if (!naming.has(f)) problems.push(`${r.id}: no test title in ${f} contains [${r.id}]`);
    }
  }
  assert.deepEqual(problems, [], problems.join("\n"));
});

test("spec coverage: every client statement of ../shared/spec/mqtt-3.1.1-client-statements.tsv is in the map, with its role", (t) => {
  if (!fs.existsSync(STATEMENTS)) {
    t.skip(`${STATEMENTS} is not there (the map is checked on its own)`);
    return;
  }
  const listed = new Map(rows.map((r) => [r.id, r]));
  const problems: string[] = [];
  const ids = new Set<string>();
  for (const line of fs.readFileSync(STATEMENTS, "utf8").split("\n")) {
    if (!line.trim()) continue;
    const [id, role] = line.split("\t");
    ids.add(id);
    const r = listed.get(id);
    if (!r) problems.push(`${id} (${role}) is missing from test/spec-coverage.md`);
    else if (r.role !== role) problems.push(`${id}: role ${r.role} in the map, ${role} in the statements`);
  }
  for (const r of rows) if (!ids.has(r.id)) problems.push(`${r.id} (line ${r.line}) is not one of the client statements`);
  assert.ok(ids.size > 0, "the statements file lists no id");
  assert.deepEqual(problems, [], problems.join("\n"));
  t.diagnostic(`${ids.size} statements: ${rows.filter((r) => r.covered).length} covered by tests, ` +
    `${rows.filter((r) => !r.covered).length} explained`);
});

test("spec coverage: the title reader finds ids in titles built from data, not in skipped tests, messages or comments", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mote-titles-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "sample.test.ts");
  fs.writeFileSync(file, [
    'import { test, describe } from "node:test";',
    'test("[MQTT-9.0.0-1] plain", () => {});',
    'test.skip("[MQTT-9.0.0-2] skipped", () => {});',
    'test("[MQTT-9.0.0-3] to do", { todo: "later" }, () => {});',
    'const cases: [string, number][] = [["[MQTT-9.0.0-4] a", 1], ["b", 2]];',
    "for (const [name] of cases) test(`x ${name}`, () => {});",
    'describe("[MQTT-9.0.0-5] suite", () => { test("inner", () => {}); });',
    '[["[MQTT-9.0.0-6] c"]].forEach(([n]) => test(n, () => {}));',
    "function check(title: string) { test(title, () => {}); }",
    'check("[MQTT-9.0.0-7] through a helper");',
    'test("no id", () => { console.log("[MQTT-9.0.0-8] a message, not a title"); });',
    "// [MQTT-9.0.0-9] a comment",
    'const title = Math.random() > 2 ? "[MQTT-9.0.0-10] one branch" : "the other";',
    'test(title, (t) => { t.test("[MQTT-9.0.0-11] subtest", () => {}); });',
  ].join("\n"));
  const found = new Set(testTitles([file], dir).flatMap((x) => x.ids));
  assert.deepEqual([...found].sort(), ["MQTT-9.0.0-1", "MQTT-9.0.0-10", "MQTT-9.0.0-11", "MQTT-9.0.0-4", "MQTT-9.0.0-5",
    "MQTT-9.0.0-6", "MQTT-9.0.0-7"]);
});
