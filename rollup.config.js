// Bundles the tsc output (.build/fw) into the files that go onto the board (firmware/).
//
//   .build/fw/firmware/mote-mqtt.js -> firmware/mote-mqtt.js  Espruino module: exports.create=...;exports.connect=...
//   .build/fw/firmware/mote.js      -> firmware/mote.js       device runtime (Storage mote.a/mote.b): one IIFE, no exports
//   .build/fw/firmware/boot.js      -> firmware/boot.js       boot guard (.bootcde): a plain script (it evaluates
//                                                             the runtime at its top level), no exports
//   .build/fw/firmware/mote-X.js    -> firmware/mote-X.js     optional feature module: exports.start(m)
//
// Each entry is bundled on its own (no shared chunks: every file must stand alone in Storage).
// Entries whose tsc output does not exist are skipped (and a stale output of them is removed).
// After this, `npm run build` runs src/tools/espruino-check.ts over firmware/*.js.
//
// MOTE_DEBUG=1 npm run build  -> no compression or mangling, indented output (for reading errors on a board).

import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import terser from "@rollup/plugin-terser";

const DEBUG = process.env.MOTE_DEBUG === "1";

// The firmware version (src/device/version.ts): package.json's "version" written in place of the
// placeholder in every bundle, so that the one number in package.json is what the board says it runs.
const VERSION_TOKEN = "__MOTE_VERSION__";
const VERSION = JSON.parse(readFileSync("package.json", "utf8")).version;
const version = {
  name: "mote-version",
  transform(code) {
    return code.includes(VERSION_TOKEN) ? { code: code.split(JSON.stringify(VERSION_TOKEN)).join(JSON.stringify(VERSION)), map: null } : null;
  },
  renderChunk(code, chunk) {
    if (code.includes(VERSION_TOKEN)) throw new Error(`${chunk.fileName}: ${VERSION_TOKEN} left in the bundle (write it as a string literal)`);
    return null;
  },
};

// Every src/firmware/<name>.ts is one file for the board's Storage: mote.ts the runtime and boot.ts the
// boot guard that runs it (plain scripts), every other one an Espruino module that require("<name>")
// finds in Storage (mote-mqtt: the client;
// mote-<feature>: an optional device feature, loaded only when the config names it).
const ENTRIES = readdirSync("src/firmware").filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")).sort().map((f) => {
  const name = f.slice(0, -3);
  return { input: `.build/fw/firmware/${name}.js`, file: `firmware/${name}.js`, format: name == "mote" ? "iife" : name == "boot" ? "es" : "cjs" };
});

// Properties every object already has on Espruino (Object.prototype / Function.prototype there).
// Mangled names must never collide with them: a mangled `_x` renamed to `on` would hide Object.prototype.on.
const ESPRUINO_PROTO = [
  "on", "emit", "addListener", "prependListener", "removeListener", "removeAllListeners", "clone",
  "replaceWith", "hasOwnProperty", "valueOf", "toString", "call", "apply", "bind", "length", "name",
];
// Espruino's lexer turns these into keywords (jslex.h LEX_R_*). `of`, `let`, `static` and `undefined`
// are ordinary names in JS, so terser would happily call a variable `of` -- a syntax error on the board.
// Class method names must be plain identifiers there too (jsparse.c jspeClassDefinition), so no
// mangled property may be any of them either.
const ESPRUINO_KEYWORDS = [
  "if", "else", "do", "while", "for", "break", "continue", "function", "return", "var", "let", "const",
  "this", "throw", "try", "catch", "finally", "true", "false", "null", "undefined", "new", "in",
  "instanceof", "switch", "case", "default", "delete", "typeof", "void", "debugger", "class", "extends",
  "super", "static", "of",
];

// Private members (`_name`) get the same short name in every bundle: the client's cold parts
// (mote-mqtt-<part>.js, loaded from Storage on first use) work on the client object that the core
// bundle (mote-mqtt.js, or the runtime's mote.js) made. Every `_name` written in src/ is given one
// name up front, never one that src/ uses as a public property or that Espruino objects already have.
function sources(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith(".ts") ? [p] : [];
  });
}
function sharedNames() {
  const priv = new Map(), pub = new Set();
  for (const f of sources("src")) {
    const text = readFileSync(f, "utf8");
    for (const m of text.matchAll(/\b_[A-Za-z]\w*/g)) priv.set(m[0], (priv.get(m[0]) || 0) + 1);
    for (const m of text.matchAll(/[{,]\s*([A-Za-z$][\w$]*)\s*:/g)) pub.add(m[1]);
    for (const m of text.matchAll(/\.([A-Za-z$][\w$]*)/g)) pub.add(m[1]);
  }
  const taken = new Set([...pub, ...ESPRUINO_PROTO, ...ESPRUINO_KEYWORDS]);
  const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const names = [];
  for (let n = 0; names.length < priv.size; n++) {
    const name = n < 52 ? letters[n] : letters[Math.floor(n / 52) - 1] + letters[n % 52];
    if (!taken.has(name)) names.push(name);
  }
  // The most used get the one-letter names: fewer bytes for the board to read.
  const props = {};
  [...priv].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).forEach((p, i) => { props["$" + p[0]] = names[i]; });
  return props;
}
const SHARED_NAMES = DEBUG ? {} : sharedNames();

// The client reaches its cold parts through session/parts.js, which links them in for Node (tests, the
// simulator's host side). In a board bundle it is platform/parts.js instead: require("mote-mqtt-<part>")
// from Storage when first needed.
const boardParts = {
  name: "board-parts",
  resolveId(source, importer) {
    if (!importer || !/(^|\/)parts\.js$/.test(source)) return null;
    const file = resolve(dirname(importer), source);
    return file.endsWith(join("session", "parts.js")) ? resolve(".build/fw/platform/parts.js") : null;
  },
};

/** @type {import('@rollup/plugin-terser').Options} */
const terserOptions = DEBUG
  ? { ecma: 2015, compress: false, mangle: false, format: { beautify: true, ascii_only: true, comments: false } }
  : {
      // Output never uses syntax newer than ES2015 (no ??, ?., **, optional catch binding from terser).
      ecma: 2015,
      compress: {
        ecma: 2015,
        passes: 3,
        toplevel: true,
        // Method -> arrow is fine on Espruino >= 2v13: an arrow that does not use `this` stores no `this`.
        arrows: true,
        // Keep every transform that changes semantics off.
        unsafe: false,
        unsafe_arrows: false,
        unsafe_comps: false,
        unsafe_Function: false,
        unsafe_math: false,
        unsafe_methods: false,
        unsafe_proto: false,
        unsafe_regexp: false,
        unsafe_symbols: false,
        unsafe_undefined: false,
        booleans_as_integers: false,
        // Drop unused trailing parameters: every parameter costs a variable per function on the board.
        keep_fargs: false,
        // No single-use function turned into an IIFE at its call site: Espruino would build that
        // function object again on every call (decode per packet, the PUBLISH encoder per publish).
        reduce_funcs: false,
        // Espruino does not hoist a `var` written after a `return` (it becomes a global): inlining a
        // function that uses its argument twice makes terser bind it in such a trailing `var`
        // (espruino-check reports any var used before it has surely run: "var not yet run").
        inline: 1,
        pure_getters: "strict",
        drop_debugger: true,
      },
      mangle: {
        toplevel: true,
        reserved: ESPRUINO_KEYWORDS,
        // Members written `_name` are private to one bundle and get short names (fewer bytes, shorter
        // property names in JsVars). `o._x` is mangled; `o["_x"]` (quoted) is left alone (keep_quoted
        // "strict"), so quote a `_` name that must survive (e.g. a key in stored JSON).
        properties: { regex: /^_[^_]/, keep_quoted: "strict", reserved: ESPRUINO_PROTO.concat(ESPRUINO_KEYWORDS) },
      },
      format: {
        ecma: 2015,
        ascii_only: true, // binary strings become \xNN escapes: the board never sees raw UTF-8 in literals
        comments: false,
        wrap_func_args: false, // no extra parentheses around function arguments
        semicolons: true,
      },
    };

// Warnings that mean the bundle would not work on the board.
const FATAL_WARNINGS = new Set([
  "UNRESOLVED_IMPORT", // a bare import (e.g. "net"): use require("net") at runtime instead
  "MISSING_EXPORT",
  "MISSING_NAME_OPTION_FOR_IIFE_EXPORT",
  "MISSING_GLOBAL_NAME",
  "EVAL",
  "THIS_IS_UNDEFINED", // tsc helpers (__awaiter & co) -- the code uses something Espruino lacks
  "NAMESPACE_CONFLICT",
  "MIXED_EXPORTS",
]);

mkdirSync("firmware", { recursive: true });
const present = ENTRIES.filter((e) => {
  if (existsSync(e.input)) return true;
  rmSync(e.file, { force: true }); // never leave a stale bundle around for the check/tests to pick up
  return false;
});
if (present.length === 0) {
  throw new Error("rollup.config.js: no entry built -- expected " + ENTRIES.map((e) => e.input).join(" or ") +
    " (run tsc -p tsconfig.json first)");
}

export default present.map((e) => ({
  input: e.input,
  treeshake: { moduleSideEffects: true },
  onwarn(warning, defaultHandler) {
    if (FATAL_WARNINGS.has(warning.code)) {
      const hint = warning.code === "MISSING_NAME_OPTION_FOR_IIFE_EXPORT" ? " (boot code must not export anything)"
        : warning.code === "UNRESOLVED_IMPORT" ? " (board modules are reached with require() at run time, never imported)" : "";
      throw new Error(`${e.input}: ${warning.code}: ${warning.message}${hint}`);
    }
    defaultHandler(warning);
  },
  plugins: [boardParts, version, terser({ ...terserOptions, maxWorkers: 1, ...(DEBUG ? {} : { nameCache: { props: { props: { ...SHARED_NAMES } } } }) })],
  output: {
    file: e.file,
    format: e.format,
    exports: e.format === "cjs" ? "named" : "auto",
    strict: false, // no "use strict"
    esModule: false, // no Object.defineProperty(exports,'__esModule',...)
    freeze: false, // no Object.freeze on namespace objects
    externalLiveBindings: false,
    interop: "default",
    indent: false,
    sourcemap: false,
    generatedCode: { preset: "es2015", symbols: false, objectShorthand: true, arrowFunctions: true },
  },
}));
