// Tests for src/tools/espruino-check.ts: every construct the Espruino facts list as failing is
// reported at the right line, and code using what Espruino does run passes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkEspruinoSyntax, type Problem } from "../../src/tools/espruino-check.js";

const check = (code: string): Problem[] => checkEspruinoSyntax(code, "sample.js");

/** `code` has the offending construct on line `line` (1-based); it must be reported there. */
function flags(code: string, construct: string | RegExp, line: number): void {
  const problems = check(code);
  const hit = problems.find((p) =>
    (typeof construct === "string" ? p.construct === construct : construct.test(p.construct)) && p.line === line);
  assert.ok(hit, `expected "${construct}" at line ${line}, got:\n` +
    problems.map((p) => `  ${p.line}:${p.column} ${p.construct}`).join("\n"));
  assert.equal(hit.file, "sample.js");
}

// Each case: [name, code with the construct on line 2, construct name]. Line 1 declares the
// names the samples use, so no "unknown global" noise gets in the way.
const PRELUDE = "var o = {}, a = [], f = function () {}, k = 'x', x = 1;\n";
const CASES: Array<[string, string, string | RegExp]> = [
  ["object destructuring in var", "var { p } = o;", "destructuring"],
  ["array destructuring in let", "let [q, r] = a;", "destructuring"],
  ["destructuring in assignment", "({ p: x } = o);", "destructuring"],
  ["destructuring in parameters", "function g({ p }) { return p; }", "destructuring"],
  ["destructuring in arrow parameters", "a.map(([p]) => p);", "destructuring"],
  ["destructuring in catch", "try { f(); } catch ({ message }) { f(message); }", "destructuring"],
  ["destructuring in for..of", "for (const [p] of a) f(p);", "destructuring"],
  ["call spread", "f(...a);", "spread"],
  ["array spread", "var b = [1, ...a];", "spread"],
  ["object spread", "var c = { ...o };", "spread"],
  ["rest parameter", "function g(p, ...more) { return more; }", "rest"],
  ["rest element", "var [first, ...others] = a;", "rest"],
  ["default parameter", "function g(p = 1) { return p; }", "default parameter"],
  ["default parameter in arrow", "var g = (p = 2) => p;", "default parameter"],
  ["async function", "async function g() { return 1; }", "async function"],
  ["async arrow", "var g = async () => 1;", "async function"],
  ["async method", "var h = { async m() { return 1; } };", "async function"],
  ["await", "async function g() { await f(); }", "await"],
  ["generator", "function* g() { }", "generator"],
  ["yield", "function* g() { yield 1; }", "yield"],
  ["optional member", "var y = o?.p;", "optional chaining"],
  ["optional call", "f?.();", "optional chaining"],
  ["exponent", "var y = x ** 2;", "**"],
  ["exponent assignment", "x **= 2;", "**="],
  ["computed key in object literal", "var y = { [k]: 1 };", "computed key"],
  ["computed method in class", "class C { [k]() { return 1; } }", "computed key"],
  ["for (let) closure", "for (let i = 0; i < 3; i++) { a.push(() => i); }", "for (let) closure"],
  ["for (const..of) closure", "for (const v of a) { setTimeout(function () { f(v); }, 1); }", "for (const) closure"],
  ["labelled continue", "outer: for (;;) { for (;;) { continue outer; } }", "labelled continue"],
  ["label", "outer: for (;;) { break outer; }", "label"],
  ["class extends Error", "class MyError extends Error {}", "class extends Error"],
  ["class extends TypeError", "var E2 = class extends TypeError {};", "class extends TypeError"],
  ["Map", "var m = new Map();", "global Map"],
  ["Set", "var s = new Set();", "global Set"],
  ["WeakMap", "var m = new WeakMap();", "global WeakMap"],
  ["WeakSet", "var s = new WeakSet();", "global WeakSet"],
  ["Symbol", "var s = Symbol('x');", "global Symbol"],
  ["Symbol.iterator", "var it = o[Symbol.iterator];", "global Symbol"],
  ["TextEncoder", "var e = new TextEncoder();", "global TextEncoder"],
  ["TextDecoder", "var d = new TextDecoder();", "global TextDecoder"],
  ["Buffer", "var b = Buffer.from('x');", "global Buffer"],
  ["setImmediate", "setImmediate(f);", "global setImmediate"],
  ["Reflect", "Reflect.ownKeys(o);", "global Reflect"],
  ["Proxy", "var p = new Proxy(o, {});", "global Proxy"],
  ["globalThis.Map", "var M = globalThis.Map;", "global Map"],
  ["Array.from", "var b = Array.from(a);", "Array.from"],
  ["Uint8Array.from", "var b = Uint8Array.from(a);", "Uint8Array.from"],
  ["Number.isInteger", "var b = Number.isInteger(x);", "Number.isInteger"],
  ["Math.trunc", "var b = Math.trunc(x);", "Math.trunc"],
  ["process.nextTick", "process.nextTick(f);", "process.nextTick"],
  ["BigInt literal", "var b = 10n;", "BigInt literal"],
  ["regex flag u", "var r = /a/u;", "regex flag 'u'"],
  ["regex flag s", "var r = /a.b/s;", "regex flag 's'"],
  ["regex flag y", "var r = /a/gy;", "regex flag 'y'"],
  ["regex lookbehind", "var r = /(?<=a)b/;", "regex lookbehind"],
  ["negative lookbehind", "var r = /(?<!a)b/;", "regex lookbehind"],
  ["RegExp constructor flags", "var r = new RegExp('a', 'u');", "regex flag 'u'"],
  ["tagged template", "var t = f`x`;", "tagged template"],
  ["clearTimeout()", "clearTimeout();", "clearTimeout()"],
  ["undeclared global", "var t = performance.now();", "global performance"],
  ["variable named of (an Espruino keyword)", "var of = 1;", "keyword `of`"],
  ["shorthand property of", "var y = { of };", "keyword `of`"],
  ["class method named by a keyword", "class C { delete() { return 1; } }", "class member name"],
  ["class method with a quoted name", "class C { 'x-y'() { return 1; } }", "class member name"],
  ["class field", "class C { list = []; }", "class field"],
  ["private member", "class C { #p = 1; }", "private #name"],
  ["logical assignment", "x ||= 1;", "||="],
  ["with", "with (o) { f(); }", "with"],
  ["dynamic import", "import('x');", "import()"],
  ["string literal above \\xff", "var s = '\\u20ac';", "non-8-bit string literal"],
  ["template literal above \\xff", "var s = `\\u0100${x}`;", "non-8-bit string literal"],
  ["regex ? quantifier", "var r = /colou?r/;", "regex feature"],
  ["regex {n} quantifier", "var r = /a{2,3}/;", "regex feature"],
  ["regex non-capturing group", "var r = /(?:ab)c/;", "regex feature"],
  ["regex word boundary", "var r = /\\bword/;", "regex feature"],
  ["regex group quantifier", "var r = /(ab)+/;", "regex feature"],
  ["regex alternation in a group", "var r = /x(a|b)/;", "regex feature"],
  ["raw non-ASCII source", "var s = '\u00e9';", "non-ASCII source"],
  // Espruino declares a var when its statement runs (measured on 2v29; terser's inlining wrote such vars).
  ["var after a return", "function g() { y = f(); return y; var y; }", "var not yet run"],
  ["var in a branch not taken", "function g(c) { if (c) { var y = 5; } return y; }", "var not yet run"],
  ["var in a try block used after it", "function g(s) { try { var v = JSON.parse(s); } catch (e) {} return v; }", "var not yet run"],
  ["var in the other arm of ?:", "function g(c) { return c ? (q = 1) : 0; var q; }", "var not yet run"],
  ["top-level var after its use", "y = 1; var y;", "var not yet run"],
];

for (const [name, line2, construct] of CASES) {
  test(`detects ${name} at its line`, () => flags(PRELUDE + line2 + "\n", construct, 2));
}

test("reports the column (1-based) inside one long minified line", () => {
  const code = "var o={},a=[];function g(n){return n+1}var s=new Map;a.push(g(1));";
  const p = check(code);
  assert.equal(p.length, 1);
  assert.equal(p[0].construct, "global Map");
  assert.equal(p[0].line, 1);
  assert.equal(p[0].column, code.indexOf("Map") + 1);
  assert.match(p[0].snippet, /new Map/);
});

test("finds constructs deep in later lines of a multi-line file", () => {
  const code = [
    "var o = {};",
    "function outer() {",
    "  return function inner() {",
    "    var q = o?.p;",
    "    return q;",
    "  };",
    "}",
  ].join("\n");
  flags(code, "optional chaining", 4);
});

test("vars declared before their uses, on every path, pass", () => {
  const code = [
    "function k(a) {",
    "  var i, n = a.length;",
    "  for (var j = 0; j < n; j++) i = j;",       // a for's var runs before its test, update and body
    "  for (var key in a) i = key;",
    "  if (n) { var z = 1; z++; }",                // used only inside the branch that declares it
    "  try { var w = 1; w++; } catch (w) { w = 2; }", // the catch's w is its parameter
    "  { const t = 1; i = t; }",                   // an inner block's own const
    "  var g = function () { return r; };",        // a nested function runs later: not judged
    "  var r = 1;",
    "  return i + g() + key;",
    "}",
    "k([]);",
  ].join("\n");
  assert.deepEqual(check(code).filter((p) => p.construct === "var not yet run"), []);
});

test("a clean sample (arrows, classes, templates, let/const, for..of, ??) passes", () => {
  const code = `
const DEFAULTS = { port: 1883, keep_alive: 60 };
let count = 0;
class Base {
  constructor(name) { this._name = name; }
  get name() { return this._name; }
  set name(v) { this._name = v; }
  static make(n) { return new Base(n); }
  hello() { return \`hello \${this._name}\`; }
}
class Child extends Base {
  constructor(name) { super(name); this.kids = []; }
  hello() { return super.hello() + "!"; }
}
function total(list) {
  let sum = 0;
  for (const v of list) sum += v;
  for (let i = 0; i < list.length; i++) sum += list[i];
  for (const key in DEFAULTS) count++;
  return sum;
}
const port = (opts) => opts.port ?? DEFAULTS.port;
const shorthand = { port, total, m() { return 1; } };
const bytes = new Uint8Array(4);
bytes.set([1, 2], 0);
const str = String.fromCharCode.apply(null, bytes) + E.toString(bytes);
const copy = Object.assign({}, DEFAULTS, { host: "h" });
Promise.all([Promise.resolve(1)]).then((r) => console.log(r, Object.entries(copy), Object.values(copy)));
const net = require("net");
const later = setTimeout(() => count++, 10);
clearTimeout(later);
const s = new Child("x");
s.on("data", (d) => s.emit("seen", d));
if (typeof Map !== "undefined") count++;
const t = getTime() + process.memory().free + Math.pow(2, 8) + Math.floor(1.5);
for (let i = 0; i < 3; i++) { const j = i; a2(() => j); }
for (let i = 0; i < 3; i++) { [1, 2].forEach((i) => count += i); }
function a2(fn) { return fn; }
digitalWrite(D2, 1); analogWrite(LED1, 0.5);
const re = /^[a-z]+$/gi;
exports.create = (h) => new Child(h);
module.exports.port = port;
`;
  const problems = check(code);
  assert.deepEqual(problems.map((p) => `${p.line}:${p.column} ${p.construct}`), []);
});

test("regexes within what Espruino's matcher supports pass", () => {
  const code = "var r = [/^[\\x01-\\x7f]*$/, /^[a-z]+$/gi, /a|b/, /\\d+\\.\\d*/, /[?*+{]/, /\\?/, /^\\s*(\\w+)\\s*$/m, /[\\b]/];\n";
  assert.deepEqual(check(code), []);
});

test("binary strings written with \\xNN escapes are fine", () => {
  assert.deepEqual(check("var s = '\\x00\\x10\\x80\\xff' + `\\x7f${1}\\xfe`;\n"), []);
});

test("keywords as property names (x.of, {delete: 1}, o.default()) are fine", () => {
  assert.deepEqual(check("var o = { of: 1, delete: 2, new: 3 };\no.of = o.delete + o.new;\n"), []);
});

test("locally declared names that shadow forbidden globals are not reported", () => {
  const code = "function g(Map, Buffer) { return new Map(Buffer); }\nconst Set = function () {}; new Set();";
  assert.deepEqual(check(code), []);
});

test("a loop whose closures do not use the loop variable is accepted", () => {
  const code = "var a = [];\nfor (let i = 0; i < 3; i++) { a.forEach(function (i) { return i; }); }\n";
  assert.deepEqual(check(code), []);
});

test("ES module syntax is reported, not a parse crash", () => {
  flags("var x = 1;\nexport { x };\n", "ES module syntax", 2);
});

test("a syntax error is reported as such with its position", () => {
  const p = check("var x = 1;\nvar = ;\n");
  assert.equal(p.length, 1);
  assert.equal(p[0].construct, "syntax error");
  assert.equal(p[0].line, 2);
});

test("CLI prints size and OK for a clean file, exits 1 naming file:line:column for a bad one", () => {
  const cli = fileURLToPath(new URL("../../src/tools/espruino-check.js", import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), "espruino-check-"));
  try {
    const good = join(dir, "good.js");
    const bad = join(dir, "bad.js");
    writeFileSync(good, "exports.create=function(n){return{n:n}};\n");
    writeFileSync(bad, "exports.create=function(n){\nreturn Array.from(n)};\n");
    const ok = spawnSync(process.execPath, [cli, good], { encoding: "utf8" });
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /good\.js\s+\d+ bytes,\s+\d+ gzipped, 1 functions — Espruino syntax OK/);
    const ko = spawnSync(process.execPath, [cli, good, bad], { encoding: "utf8" });
    assert.equal(ko.status, 1);
    assert.match(ko.stdout, /bad\.js:2:8 {2}Array\.from: /);
    const missing = spawnSync(process.execPath, [cli, join(dir, "nope.js")], { encoding: "utf8" });
    assert.equal(missing.status, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
