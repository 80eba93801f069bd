// The built bundles (npm run build -> firmware/*.js) have the shape the board needs:
// firmware/mote-mqtt.js is a plain CommonJS-style Espruino module (exports.create / exports.connect,
// no "use strict", no __esModule marker, no interop helpers, pure ASCII, private `_members` mangled),
// firmware/mote.js is boot code without exports. Both pass the Espruino syntax check.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { runInNewContext } from "node:vm";
import { parse } from "acorn";
import { checkEspruinoSyntax } from "../../src/tools/espruino-check.js";

const MODULE = "firmware/mote-mqtt.js";
const BOOT = "firmware/mote.js";

function common(file: string, code: string): void {
  assert.deepEqual(checkEspruinoSyntax(code, file).map((p) => `${p.line}:${p.column} ${p.construct}`), []);
  assert.ok(!/["']use strict["']/.test(code), `${file} has a "use strict" directive`);
  assert.ok(!code.includes("__esModule"), `${file} has an __esModule marker`);
  assert.ok(!/\b_interop|__importDefault|__importStar|_interopNamespace/.test(code), `${file} has interop helpers`);
  assert.ok(!/require\(\s*["']\.{1,2}\//.test(code), `${file} requires a relative path (the bundle must stand alone)`);
  assert.ok(!/[^\x00-\x7f]/.test(code), `${file} is not pure ASCII`);
  // `_name` members are private and mangled by terser; an unmangled one means property mangling is off.
  const leaked = code.match(/\._[A-Za-z0-9$][A-Za-z0-9$_]*/g);
  assert.equal(leaked, null, `${file} still has unmangled private members: ${leaked && [...new Set(leaked)].join(" ")}`);
}

test(`${MODULE} is a standalone Espruino module exporting create and connect`, () => {
  assert.ok(existsSync(MODULE), `${MODULE} missing: run npm run build`);
  const code = readFileSync(MODULE, "latin1");
  common(MODULE, code);

  // exports.create / exports.connect assigned at the top level
  const ast = parse(code, { ecmaVersion: "latest", sourceType: "script" }) as unknown as { body: any[] };
  const assigned = new Set<string>();
  const collect = (e: any): void => {
    if (!e) return;
    if (e.type === "SequenceExpression") e.expressions.forEach(collect);
    else if (e.type === "AssignmentExpression" && e.left.type === "MemberExpression" &&
      e.left.object.type === "Identifier" && e.left.object.name === "exports") {
      assigned.add(e.left.property.name);
      collect(e.right);
    }
  };
  for (const st of ast.body) if (st.type === "ExpressionStatement") collect(st.expression);
  assert.ok(assigned.has("create") && assigned.has("connect"), `top-level exports: ${[...assigned].join(", ")}`);

  // Loading it (as Espruino does for a Storage module) defines the two functions. The module may
  // read board globals at load time, so the context has inert stand-ins for the platform surface.
  const exports: Record<string, unknown> = {};
  const noop = (): number => 1;
  const board = {
    exports, module: { exports }, require: () => ({}), console,
    setTimeout: noop, setInterval: noop, clearTimeout: noop, clearInterval: noop, getTime: () => 0,
    getSerial: () => "0", E: {}, process: { memory: () => ({}), env: {} },
  };
  runInNewContext(code, board, { filename: MODULE });
  assert.equal(typeof exports.create, "function");
  assert.equal(typeof exports.connect, "function");
});

test(`${BOOT} (when built) is boot code without exports`, (t) => {
  if (!existsSync(BOOT)) {
    t.skip("src/firmware/mote.ts not written yet");
    return;
  }
  const code = readFileSync(BOOT, "latin1");
  common(BOOT, code);
  assert.ok(!/\bexports\./.test(code), `${BOOT} assigns exports`);
});
