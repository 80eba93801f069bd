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

import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import terser from "@rollup/plugin-terser";

const DEBUG = process.env.MOTE_DEBUG === "1";

// Every src/firmware/<name>.ts is one file for the board's Storage: mote.ts the runtime and boot.ts the
// boot guard that runs it (plain scripts), every other one an Espruino module that require("<name>") finds in Storage (mote-mqtt: the client;
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
  plugins: [terser({ ...terserOptions, maxWorkers: 1 })],
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
