// Espruino syntax check for the built bundles (firmware/*.js).
//
// Parses JavaScript with acorn and reports every construct that the Espruino interpreter
// (2v29, ESP32/ESP8266 builds) rejects or runs wrongly: the list in the shared Espruino facts
// (destructuring, spread, rest, default parameters, async/await, generators, ?., **, computed
// keys, closures over for (let) variables, labels, class extends Error, Map/Set/Symbol/...,
// Array.from, Number.isInteger, Math.trunc, Buffer, process.nextTick, setImmediate, BigInt),
// plus what Espruino's own sources show (jsparse.c, jslex.c, jswrap_*.c): unknown globals and
// static members (checked against the functions each built-in really has), names that are
// keywords for Espruino's lexer (`of`), class member names, class fields, tagged templates,
// string literals above \xff, non-ASCII source, regex features its small matcher lacks, and a var
// used before its statement has surely run (Espruino does not hoist var: measured on 2v29).
// It runs on the minified output, so it sees exactly what the board will parse, including
// anything tsc or terser introduced.
//
//   node .build/host/src/tools/espruino-check.js firmware/*.js
//
// prints one line per file with raw and gzipped size and the number of functions (each costs
// variables on the board), and every problem as `file:line:column  construct: message` (column
// 1-based) with a snippet of the source around it; exits 1 when any problem was found.

import { parse } from "acorn";
import { readFileSync, realpathSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

export interface Problem {
  file: string;
  /** 1-based line */
  line: number;
  /** 1-based column */
  column: number;
  /** short name of the construct, e.g. "destructuring", "spread", "global Map" */
  construct: string;
  message: string;
  /** a few characters of source around the position (the bundles are one long line) */
  snippet: string;
}

// ESTree nodes as acorn produces them; only the fields this checker reads are typed.
interface Node {
  type: string;
  start: number;
  end: number;
  loc?: { start: { line: number; column: number } };
  [key: string]: any;
}

/** Globals that exist on Espruino 2v29 ESP32/ESP8266 builds (from the jswrap_*.c reference). */
const ESPRUINO_GLOBALS = new Set<string>([
  // classes and objects
  "Array", "ArrayBuffer", "ArrayBufferView", "Boolean", "DataView", "Date", "E", "Error", "ESP32", "ESP8266",
  "Float32Array", "Float64Array", "Function", "I2C", "Int8Array", "Int16Array", "Int32Array", "InternalError",
  "JSON", "Math", "Modules", "Number", "Object", "OneWire", "Pin", "Promise", "ReferenceError", "RegExp", "SPI",
  "Serial", "Server", "Socket", "StorageFile", "String", "SyntaxError", "TypeError", "Uint8Array",
  "Uint8ClampedArray", "Uint16Array", "Uint24Array", "Uint32Array", "Waveform", "console", "process",
  "I2C1", "I2C2", "I2C3", "SPI1", "SPI2", "SPI3", "Serial1", "Serial2", "LoopbackA", "LoopbackB", "Telnet", "USB",
  // functions
  "analogRead", "analogWrite", "atob", "btoa", "changeInterval", "clearInterval", "clearTimeout", "clearWatch",
  "decodeURIComponent", "digitalPulse", "digitalRead", "digitalWrite", "dump", "echo", "edit",
  "encodeURIComponent", "eval", "getPinMode", "getSerial", "getTime", "isFinite", "isNaN", "load", "parseFloat",
  "parseInt", "peek8", "peek16", "peek32", "pinMode", "poke8", "poke16", "poke32", "print", "require", "reset",
  "save", "setBusyIndicator", "setDeepSleep", "setInterval", "setSleepIndicator", "setTime", "setTimeout",
  "setWatch", "shiftOut", "trace",
  // variables
  "HIGH", "LOW", "Infinity", "NaN", "undefined", "__FILE__", "arguments", "global", "globalThis",
  // module scope (a Storage module runs with these defined)
  "exports", "module",
]);
/** Pin objects: D0..D40, A0 (ESP8266), LED1.., BTN1.. */
const PIN_GLOBAL = /^(D\d{1,2}|A0|LED\d|BTN\d)$/;

/** Globals the facts name explicitly, with a specific message. */
const FORBIDDEN_GLOBALS: Record<string, string> = {
  Map: "Map does not exist on Espruino; use a plain object or arrays",
  Set: "Set does not exist on Espruino; use a plain object or an array",
  WeakMap: "WeakMap does not exist on Espruino",
  WeakSet: "WeakSet does not exist on Espruino",
  WeakRef: "WeakRef does not exist on Espruino",
  Symbol: "Symbol does not exist on Espruino",
  TextEncoder: "TextEncoder does not exist on Espruino; encode UTF-8 by hand into a binary string",
  TextDecoder: "TextDecoder does not exist on Espruino; decode UTF-8 by hand",
  Buffer: "Buffer is Node-only; bytes are binary strings (or Uint8Array) on Espruino",
  setImmediate: "setImmediate does not exist on Espruino; use setTimeout(fn, 0) or emit (queued)",
  queueMicrotask: "queueMicrotask does not exist on Espruino; use setTimeout(fn, 0)",
  Reflect: "Reflect does not exist on Espruino",
  Proxy: "Proxy does not exist on Espruino",
  BigInt: "BigInt does not exist on Espruino",
  RangeError: "RangeError does not exist on Espruino (it has Error, TypeError, SyntaxError, ReferenceError, InternalError)",
  EvalError: "EvalError does not exist on Espruino",
  URIError: "URIError does not exist on Espruino",
  AggregateError: "AggregateError does not exist on Espruino",
  structuredClone: "structuredClone does not exist on Espruino",
};

/** Prototype members every object/function has on Espruino (Object.prototype + Function.prototype). */
const OBJECT_PROTO = [
  "on", "emit", "addListener", "prependListener", "removeListener", "removeAllListeners", "hasOwnProperty",
  "toString", "valueOf", "clone", "constructor", "prototype", "length", "name", "call", "apply", "bind",
  "replaceWith", "__proto__",
];

/** Static members that exist on Espruino, per global (from the jswrap_*.c "staticmethod"/"staticproperty" entries). */
const STATIC_MEMBERS: Record<string, string[]> = {
  Math: ["E", "LN10", "LN2", "LOG10E", "LOG2E", "PI", "SQRT1_2", "SQRT2", "abs", "acos", "asin", "atan", "atan2",
    "ceil", "clip", "cos", "exp", "floor", "log", "max", "min", "pow", "randInt", "random", "round", "sign", "sin",
    "sqrt", "tan", "wrap"],
  Number: ["MAX_VALUE", "MIN_VALUE", "NEGATIVE_INFINITY", "NaN", "POSITIVE_INFINITY"],
  Array: ["isArray"],
  Object: ["assign", "create", "defineProperties", "defineProperty", "entries", "fromEntries",
    "getOwnPropertyDescriptor", "getOwnPropertyDescriptors", "getOwnPropertyNames", "getPrototypeOf", "keys",
    "setPrototypeOf", "values"],
  String: ["fromCharCode"],
  JSON: ["parse", "stringify"],
  Promise: ["all", "reject", "resolve"],
  Date: ["now", "parse"],
  process: ["env", "memory", "version"],
  console: ["debug", "error", "info", "log", "trace", "warn"],
  E: ["CRC32", "FFT", "HSBtoRGB", "asUTF8", "asm", "clip", "compiledC", "connectSDCard", "convolve", "decodeUTF8",
    "defrag", "dumpFragmentation", "dumpFreeList", "dumpLockedVars", "dumpStr", "dumpVariables", "enableWatchdog",
    "fromUTF8", "getAddressOf", "getAnalogVRef", "getBattery", "getClock", "getConsole", "getErrorFlags",
    "getFlags", "getPowerUsage", "getRTCPrescaler", "getSizeOf", "getTemperature", "getVDDH", "hwRand", "internal",
    "isUTF8", "kickWatchdog", "lockConsole", "lookupNoCase", "mapInPlace", "memoryArea", "memoryMap", "nativeCall",
    "openFile", "pipe", "reboot", "rebootToDFU", "reverseByte", "sendUSBHID", "setBootCode", "setClock",
    "setComparator", "setConsole", "setDST", "setFlags", "setPassword", "setRTCPrescaler", "setTimeZone",
    "setUSBHID", "showAlert", "showMenu", "showMessage", "showPrompt", "showScroller", "srand",
    "stopEventPropagation", "sum", "toArrayBuffer", "toFlatString", "toJS", "toString", "toUint8Array",
    "unmountSD", "variance"],
  // typed arrays and the rest have no static members on Espruino
  ArrayBuffer: [], DataView: [], Int8Array: [], Int16Array: [], Int32Array: [], Uint8Array: [],
  Uint8ClampedArray: [], Uint16Array: [], Uint24Array: [], Uint32Array: [], Float32Array: [], Float64Array: [],
  Boolean: [], Function: [], RegExp: [], Error: [], TypeError: [],
};
/** Explicit messages for the members the facts name. */
const MEMBER_MESSAGES: Record<string, string> = {
  "Array.from": "Array.from does not exist on Espruino; loop, or use Array.prototype.slice.call / map",
  "Uint8Array.from": "Uint8Array.from does not exist on Espruino; use new Uint8Array(arrayOrLength) or E.toUint8Array",
  "Number.isInteger": "Number.isInteger does not exist on Espruino; use (x|0)===x or Math.floor(x)===x",
  "Math.trunc": "Math.trunc does not exist on Espruino; use x|0 (32-bit) or x<0?Math.ceil(x):Math.floor(x)",
  "process.nextTick": "process.nextTick does not exist on Espruino; use setTimeout(fn, 0) or emit (queued)",
};

const ERROR_CLASSES = new Set(["Error", "TypeError", "RangeError", "SyntaxError", "ReferenceError", "EvalError",
  "URIError", "InternalError", "AggregateError"]);

/** Words Espruino's lexer makes keywords (jslex.h LEX_R_*). */
const ESPRUINO_KEYWORDS = new Set(["if", "else", "do", "while", "for", "break", "continue", "function", "return",
  "var", "let", "const", "this", "throw", "try", "catch", "finally", "true", "false", "null", "undefined", "new",
  "in", "instanceof", "switch", "case", "default", "delete", "typeof", "void", "debugger", "class", "extends",
  "super", "static", "of"]);
/** Of those, the ones JavaScript lets you use as a variable name. */
const ESPRUINO_ONLY_KEYWORDS = new Set(["of", "let", "static", "undefined"]);

const WIDE_CHAR = "a character above \\xff in a string literal: ESP32/ESP8266 builds keep only its low 8 bits, " +
  "the Linux build turns the whole string into UTF-8; build such bytes at run time (e.g. from UTF-8 \\xNN escapes)";

const FUNCTION_TYPES = new Set(["FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"]);

export function checkEspruinoSyntax(code: string, filename: string): Problem[] {
  const problems: Problem[] = [];
  const lineStarts = [0];
  for (let i = 0; i < code.length; i++) if (code.charCodeAt(i) === 10) lineStarts.push(i + 1);

  const report = (pos: number, construct: string, message: string): void => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= pos) lo = mid;
      else hi = mid - 1;
    }
    const snippet = code.slice(Math.max(lineStarts[lo], pos - 20), Math.min(code.length, pos + 40)).replace(/\s+/g, " ");
    problems.push({ file: filename, line: lo + 1, column: pos - lineStarts[lo] + 1, construct, message, snippet });
  };

  let ast: Node;
  try {
    ast = parse(code, { ecmaVersion: "latest", sourceType: "script", allowReturnOutsideFunction: true }) as unknown as Node;
  } catch (scriptErr) {
    try {
      // ES module syntax is itself a problem; parse as a module to report it (and everything else) properly.
      ast = parse(code, { ecmaVersion: "latest", sourceType: "module" }) as unknown as Node;
    } catch {
      const e = scriptErr as { pos?: number; message: string };
      report(e.pos ?? 0, "syntax error", e.message);
      return problems;
    }
  }

  // The board reads the file as bytes: raw non-ASCII would be UTF-8 sequences, not the characters meant.
  const nonAscii = /[^\x00-\x7f]/.exec(code);
  if (nonAscii) {
    report(nonAscii.index, "non-ASCII source", "the bundle must be pure ASCII (terser ascii_only): Espruino reads the " +
      "source as bytes, so a raw non-ASCII character becomes several characters (or a UTF-8 string on Linux builds)");
  }

  const scopes = analyseScopes(ast);
  const isGlobalRef = (n: Node | undefined, name?: string): boolean =>
    !!n && n.type === "Identifier" && scopes.globalRefs.has(n) && (name === undefined || n.name === name);

  const staticMember = (obj: string, prop: string, pos: number): void => {
    const allowed = STATIC_MEMBERS[obj];
    if (!allowed || allowed.includes(prop) || OBJECT_PROTO.includes(prop)) return;
    const key = obj + "." + prop;
    report(pos, key, MEMBER_MESSAGES[key] ?? key + " does not exist on Espruino");
  };

  const checkRegex = (pattern: string, flags: string, pos: number): void => {
    const bad = flags.replace(/[gim]/g, "");
    if (bad) report(pos, "regex flag '" + bad + "'", "Espruino regexes support only the g, i, m flags");
    if (/\(\?<[=!]/.test(pattern)) report(pos, "regex lookbehind", "Espruino regexes have no lookbehind (?<= / (?<!");
    else if (/\(\?<[A-Za-z_$]/.test(pattern)) report(pos, "regex named group", "Espruino regexes have no named groups (?<name>");
    else for (const why of regexLimits(pattern)) report(pos, "regex feature", why);
  };

  visit(ast, null, null, (node, parent, key) => {
    const p = node.start;
    switch (node.type) {
      case "ObjectPattern":
      case "ArrayPattern":
        // report the outermost pattern only
        if (!parent || (parent.type !== "ObjectPattern" && parent.type !== "ArrayPattern" &&
            !(parent.type === "Property" && parent.value === node) && parent.type !== "AssignmentPattern" &&
            parent.type !== "RestElement")) {
          const where = parent && FUNCTION_TYPES.has(parent.type) ? " in parameters"
            : parent && parent.type === "CatchClause" ? " in catch"
            : parent && parent.type === "AssignmentExpression" ? " in assignment" : "";
          report(p, "destructuring", "destructuring" + where + " fails on Espruino; read the properties one by one");
        }
        break;
      case "SpreadElement": {
        const ctx = parent && (parent.type === "CallExpression" || parent.type === "NewExpression") ? "call"
          : parent && parent.type === "ObjectExpression" ? "object" : "array";
        report(p, "spread", ctx + " spread (...) fails on Espruino; use apply / concat / Object.assign");
        break;
      }
      case "RestElement":
        report(p, "rest", "rest element (...) fails on Espruino; use `arguments` or slice");
        break;
      case "AssignmentPattern":
        if (parent && FUNCTION_TYPES.has(parent.type)) {
          report(p, "default parameter", "default parameters fail on Espruino; test for undefined in the body");
        }
        break;
      case "FunctionDeclaration":
      case "FunctionExpression":
      case "ArrowFunctionExpression":
        if (node.async) report(p, "async function", "async functions fail on Espruino; use Promise.then or callbacks");
        if (node.generator) report(p, "generator", "generators fail on Espruino");
        break;
      case "AwaitExpression":
        report(p, "await", "await fails on Espruino");
        break;
      case "YieldExpression":
        report(p, "yield", "yield (generators) fails on Espruino");
        break;
      case "ChainExpression":
        report(p, "optional chaining", "?. fails on Espruino; test explicitly (a && a.b)");
        break;
      case "BinaryExpression":
        if (node.operator === "**") report(p, "**", "** fails on Espruino; use Math.pow");
        break;
      case "AssignmentExpression":
        if (node.operator === "**=") report(p, "**=", "**= fails on Espruino; use Math.pow");
        else if (node.operator === "||=" || node.operator === "&&=" || node.operator === "??=")
          report(p, node.operator, "logical assignment " + node.operator + " is not in Espruino's lexer; write a = a || b");
        break;
      case "Property":
        if (node.computed && parent && parent.type === "ObjectExpression")
          report(p, "computed key", "computed property keys fail on Espruino; assign o[k] = v after creating the object");
        break;
      case "MethodDefinition":
        if (node.computed) report(p, "computed key", "computed method names fail on Espruino");
        else if (node.key.type !== "Identifier") {
          report(p, "class member name", "Espruino class members must be named by a plain identifier, not " + node.key.raw);
        } else if (ESPRUINO_KEYWORDS.has(node.key.name)) {
          report(p, "class member name", "`" + node.key.name + "` is a keyword for Espruino's parser and cannot name a class member");
        }
        break;
      case "PropertyDefinition":
        report(p, node.computed ? "computed key" : "class field",
          "class fields are evaluated once and put on the prototype by Espruino (shared by all instances); assign in the constructor");
        break;
      case "StaticBlock":
        report(p, "static block", "class static blocks fail on Espruino");
        break;
      case "PrivateIdentifier":
        report(p, "private #name", "#private members fail on Espruino; use a _name (mangled by the build)");
        break;
      case "ForStatement":
      case "ForInStatement":
      case "ForOfStatement": {
        if (node.type === "ForOfStatement" && node.await) report(p, "for await", "for await fails on Espruino");
        const captured = scopes.loopCaptures.get(node);
        if (captured) {
          const kind = (node.type === "ForStatement" ? node.init : node.left).kind;
          report(p, "for (" + kind + ") closure",
            "a closure inside this for (" + kind + " ...) uses the loop variable " + captured.join(", ") +
            "; on Espruino every such closure sees only its final value. Copy it into a const inside the " +
            "loop body, or move the body into a function / use forEach");
        }
        break;
      }
      case "LabeledStatement":
        report(p, "label", "labelled statements are not supported by Espruino's parser");
        break;
      case "ContinueStatement":
        if (node.label) report(p, "labelled continue", "labelled continue fails on Espruino");
        break;
      case "BreakStatement":
        if (node.label) report(p, "labelled break", "labelled break fails on Espruino");
        break;
      case "ClassDeclaration":
      case "ClassExpression":
        if (isGlobalRef(node.superClass) && ERROR_CLASSES.has(node.superClass.name)) {
          report(p, "class extends " + node.superClass.name,
            "class X extends " + node.superClass.name + " fails on Espruino (super call error, instanceof false); " +
            "create an Error and set its fields");
        }
        break;
      case "TaggedTemplateExpression":
        report(p, "tagged template", "tagged templates are not supported by Espruino");
        break;
      case "TemplateElement":
        if (/\\u\{/.test(node.value.raw)) report(p, "\\u{} escape", "\\u{...} escapes are not understood by Espruino's lexer");
        else if (node.value.cooked && /[^\x00-\xff]/.test(node.value.cooked)) report(p, "non-8-bit string literal", WIDE_CHAR);
        break;
      case "Literal":
        if (node.bigint !== undefined) report(p, "BigInt literal", "BigInt literals fail on Espruino");
        else if (node.regex) checkRegex(node.regex.pattern, node.regex.flags, p);
        else if (typeof node.value === "string") {
          if (/\\u\{/.test(node.raw)) report(p, "\\u{} escape", "\\u{...} escapes are not understood by Espruino's lexer");
          else if (/[^\x00-\xff]/.test(node.value)) report(p, "non-8-bit string literal", WIDE_CHAR);
        }
        break;
      case "NewExpression":
      case "CallExpression":
        if (isGlobalRef(node.callee, "RegExp") && node.arguments.length > 1 && node.arguments[1].type === "Literal" &&
            typeof node.arguments[1].value === "string" && node.arguments[0].type === "Literal" &&
            typeof node.arguments[0].value === "string") {
          checkRegex(node.arguments[0].value, node.arguments[1].value, p);
        }
        if (node.type === "CallExpression" && node.arguments.length === 0 &&
            (isGlobalRef(node.callee, "clearTimeout") || isGlobalRef(node.callee, "clearInterval"))) {
          report(p, node.callee.name + "()", node.callee.name + "() with no id clears EVERY timer on the board " +
            "(and clearTimeout(undefined) throws); always pass an id");
        }
        break;
      case "WithStatement":
        report(p, "with", "with statements are not supported by Espruino");
        break;
      case "ImportDeclaration":
      case "ExportNamedDeclaration":
      case "ExportDefaultDeclaration":
      case "ExportAllDeclaration":
        report(p, "ES module syntax", "import/export are not supported by Espruino; the bundle must be CommonJS (exports.x = ...)");
        break;
      case "ImportExpression":
        report(p, "import()", "dynamic import fails on Espruino; use require");
        break;
      case "MetaProperty":
        report(p, node.meta.name + "." + node.property.name, node.meta.name + "." + node.property.name + " fails on Espruino");
        break;
      case "MemberExpression": {
        const obj = node.object as Node;
        const propName = !node.computed && node.property.type === "Identifier" ? node.property.name
          : node.computed && node.property.type === "Literal" && typeof node.property.value === "string" ? node.property.value
          : undefined;
        if (propName === undefined) break;
        if (isGlobalRef(obj) && !(parent && parent.type === "UnaryExpression" && parent.operator === "typeof")) {
          staticMember(obj.name, propName, p);
        }
        // globalThis.Map / global.Buffer etc.
        if ((isGlobalRef(obj, "globalThis") || isGlobalRef(obj, "global")) &&
            !(parent && parent.type === "UnaryExpression" && parent.operator === "typeof")) {
          if (FORBIDDEN_GLOBALS[propName]) report(p, "global " + propName, FORBIDDEN_GLOBALS[propName]);
        }
        break;
      }
      case "Identifier": {
        if (ESPRUINO_ONLY_KEYWORDS.has(node.name) && (scopes.bindingIds.has(node) || isReference(node, parent, key)) &&
            !(node.name === "undefined" && !scopes.bindingIds.has(node))) {
          report(p, "keyword `" + node.name + "`", "`" + node.name + "` is a keyword for Espruino's parser and cannot be a variable name");
          break;
        }
        if (!scopes.globalRefs.has(node)) break;
        if (parent && parent.type === "UnaryExpression" && parent.operator === "typeof") break; // feature test
        if (FORBIDDEN_GLOBALS[node.name]) report(p, "global " + node.name, FORBIDDEN_GLOBALS[node.name]);
        else if (!ESPRUINO_GLOBALS.has(node.name) && !PIN_GLOBAL.test(node.name)) {
          report(p, "global " + node.name, node.name + " is not a global on Espruino (undeclared name)");
        }
        break;
      }
    }
  });

  for (const u of varsUsedBeforeRun(ast)) {
    report(u.start, "var not yet run", `\`${u.name}\` is used where no \`var ${u.name}\` has surely run: Espruino declares a var ` +
      "only when its statement runs (not hoisted), so a var after a return or in a branch not taken leaves the name " +
      "global (an assignment makes a global, a read throws ReferenceError). Declare it at the top of the function");
  }

  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  return problems;
}

/**
 * Uses of var-declared names that may run before any declaration of the name has run. Espruino 2v29
 * declares a `var` when its statement executes (measured: `x = 1; return x; var x` and
 * `if (0) { var y; } y = 1` both make a global; reading such a name throws ReferenceError). A use is
 * safe when a declaration of the name comes earlier in the same function, in a branch that encloses
 * the use: each node carries the chain of branches it sits in (an if's arms, a loop's test, update and
 * body, a try's blocks, a switch case, the arms of ?: and the right of && / ||), and the declaration's
 * chain must be a prefix of the use's. Uses inside nested functions are not judged (they run later);
 * names that are parameters, function declarations, or shadowed (catch parameter, let/const/class in
 * an inner block) are skipped.
 */
function varsUsedBeforeRun(ast: Node): { name: string; start: number }[] {
  const out: { name: string; start: number }[] = [];
  const fns: Node[] = [ast];
  visit(ast, null, null, (n) => { if (FUNCTION_TYPES.has(n.type)) fns.push(n); });
  const BRANCHES: Record<string, string[]> = {
    IfStatement: ["consequent", "alternate"], ConditionalExpression: ["consequent", "alternate"], LogicalExpression: ["right"],
    ForStatement: ["test", "update", "body"], ForInStatement: ["body"], ForOfStatement: ["body"], WhileStatement: ["body"],
    TryStatement: ["block", "handler", "finalizer"], SwitchCase: ["consequent"],
  };
  for (const fn of fns) {
    type At = { name: string; start: number; path: string[] };
    const decls: At[] = [], uses: At[] = [], skip = new Set<string>();
    for (const prm of fn.params ?? []) for (const id of patternNames(prm, [])) skip.add(id.name);
    const body: Node = fn.type === "Program" ? fn : fn.body;
    const walk = (n: Node, parent: Node | null, key: string | null, path: string[], shadow: Set<string>): void => {
      if (n !== body && FUNCTION_TYPES.has(n.type)) { if (n.type === "FunctionDeclaration" && n.id) skip.add(n.id.name); return; }
      if (n.type === "BlockStatement" && n !== body) {
        const inner = new Set<string>();
        lexical(n.body, inner);
        if (inner.size) shadow = new Set([...shadow, ...inner]);
      }
      if (n.type === "CatchClause" && n.param) shadow = new Set([...shadow, ...patternNames(n.param, []).map((i) => i.name)]);
      if (n.type === "VariableDeclaration" && n.kind !== "var") {
        for (const d of n.declarations) for (const id of patternNames(d.id, [])) shadow = new Set([...shadow, id.name]);
      }
      if (n.type === "VariableDeclarator" && parent?.kind === "var") {
        for (const id of patternNames(n.id, [])) if (!shadow.has(id.name)) decls.push({ name: id.name, start: n.start, path });
        if (n.init) walk(n.init, n, "init", path, shadow);
        return;
      }
      if (n.type === "Identifier") {
        if (isReference(n, parent, key) && !shadow.has(n.name)) uses.push({ name: n.name, start: n.start, path });
        return;
      }
      const arms = BRANCHES[n.type] ?? [];
      for (const k of Object.keys(n)) {
        if (k === "loc" || k === "start" || k === "end" || k === "type" || k === "regex") continue;
        const sub = arms.includes(k) ? [...path, n.start + n.type + k] : path;
        const v = n[k];
        for (const c of Array.isArray(v) ? v : [v]) if (c && typeof c.type === "string") walk(c, n, k, sub, shadow);
      }
    };
    walk(body, null, null, [], new Set());
    const declared = new Set(decls.map((d) => d.name));
    for (const u of uses) {
      if (!declared.has(u.name) || skip.has(u.name)) continue;
      const ran = decls.some((d) => d.name === u.name && d.start < u.start && d.path.length <= u.path.length &&
        d.path.every((b, i) => u.path[i] === b));
      if (!ran) out.push(u);
    }
  }
  return out;
}

interface Scope {
  names: Set<string>;
  parent: Scope | null;
  /** number of function boundaries between the program and this scope */
  fnDepth: number;
  /** the for/for-in/for-of statement when this is the scope of its let/const loop variable */
  loop?: Node;
}

interface ScopeInfo {
  /** Identifier nodes that are references to globals (bound nowhere in the file's scopes) */
  globalRefs: Set<Node>;
  /** for statements whose let/const loop variable is used inside a closure -> those variable names */
  loopCaptures: Map<Node, string[]>;
  /** Identifier nodes that declare a name (var/let/const, params, function/class names, catch, imports) */
  bindingIds: WeakSet<object>;
}

/** Names bound by a declaration pattern (identifiers in destructuring, rest, defaults). */
function patternNames(p: Node | null | undefined, out: Node[]): Node[] {
  if (!p) return out;
  switch (p.type) {
    case "Identifier": out.push(p); break;
    case "ObjectPattern": for (const prop of p.properties) patternNames(prop.type === "RestElement" ? prop : prop.value, out); break;
    case "ArrayPattern": for (const el of p.elements) patternNames(el, out); break;
    case "RestElement": patternNames(p.argument, out); break;
    case "AssignmentPattern": patternNames(p.left, out); break;
  }
  return out;
}

/** `var` declarations and function declarations anywhere in a function body (not in nested functions). */
function hoisted(body: Node, out: Set<string>): void {
  visitUntilFunction(body, (n) => {
    if (n.type === "VariableDeclaration" && n.kind === "var") {
      for (const d of n.declarations) for (const id of patternNames(d.id, [])) out.add(id.name);
    } else if (n.type === "FunctionDeclaration" && n.id) {
      out.add(n.id.name); // Annex B: also visible function-wide in sloppy code
    }
  });
}

/** let/const/class/function declared directly in a statement list. */
function lexical(statements: Node[], out: Set<string>): void {
  for (const st of statements) {
    const d = st.type === "ExportNamedDeclaration" || st.type === "ExportDefaultDeclaration" ? st.declaration : st;
    if (!d) continue;
    if (d.type === "VariableDeclaration" && d.kind !== "var") {
      for (const decl of d.declarations) for (const id of patternNames(decl.id, [])) out.add(id.name);
    } else if ((d.type === "ClassDeclaration" || d.type === "FunctionDeclaration") && d.id) {
      out.add(d.id.name);
    }
  }
}

function visitUntilFunction(node: Node, fn: (n: Node) => void): void {
  fn(node);
  for (const k of Object.keys(node)) {
    if (k === "loc" || k === "type" || k === "regex") continue;
    const v = node[k];
    const kids: Node[] = Array.isArray(v) ? v : v && typeof v === "object" && typeof v.type === "string" ? [v] : [];
    for (const c of kids) {
      if (!c || typeof c.type !== "string") continue;
      if (FUNCTION_TYPES.has(c.type)) { if (c.type === "FunctionDeclaration") fn(c); continue; }
      visitUntilFunction(c, fn);
    }
  }
}

/**
 * Lexical scope analysis: which identifiers are globals, and which let/const loop variables are
 * captured by closures. Follows ES scoping (function, block, for-head, catch, class-name scopes).
 */
function analyseScopes(ast: Node): ScopeInfo {
  const bindings = new WeakSet<object>();
  const info: ScopeInfo = { globalRefs: new Set(), loopCaptures: new Map(), bindingIds: bindings };
  const mark = (p: Node | null | undefined): void => { for (const id of patternNames(p, [])) bindings.add(id); };

  const newScope = (parent: Scope | null, fnDepth: number, loop?: Node): Scope =>
    ({ names: new Set(), parent, fnDepth, loop });

  const resolve = (id: Node, scope: Scope, fnDepth: number): void => {
    for (let s: Scope | null = scope; s; s = s.parent) {
      if (s.names.has(id.name)) {
        if (s.loop && fnDepth > s.fnDepth) {
          const list = info.loopCaptures.get(s.loop) || [];
          if (!list.includes(id.name)) list.push(id.name);
          info.loopCaptures.set(s.loop, list);
        }
        return;
      }
    }
    info.globalRefs.add(id);
  };

  const walk = (node: Node, scope: Scope, fnDepth: number, parent: Node | null, key: string | null): void => {
    switch (node.type) {
      case "Program": {
        const s = newScope(null, 0);
        hoisted(node, s.names);
        lexical(node.body, s.names);
        for (const st of node.body) walk(st, s, 0, node, "body");
        return;
      }
      case "FunctionDeclaration":
      case "FunctionExpression":
      case "ArrowFunctionExpression": {
        let outer = scope;
        if (node.id) {
          mark(node.id);
          if (node.type === "FunctionExpression") { outer = newScope(scope, fnDepth); outer.names.add(node.id.name); }
        }
        const s = newScope(outer, fnDepth + 1);
        for (const prm of node.params) { mark(prm); for (const id of patternNames(prm, [])) s.names.add(id.name); }
        if (node.type !== "ArrowFunctionExpression") s.names.add("arguments");
        for (const prm of node.params) walk(prm, s, fnDepth + 1, node, "params");
        if (node.body.type === "BlockStatement") {
          hoisted(node.body, s.names);
          lexical(node.body.body, s.names);
          for (const st of node.body.body) walk(st, s, fnDepth + 1, node.body, "body");
        } else {
          walk(node.body, s, fnDepth + 1, node, "body");
        }
        return;
      }
      case "ClassDeclaration":
      case "ClassExpression": {
        let s = scope;
        if (node.id) { mark(node.id); s = newScope(scope, fnDepth); s.names.add(node.id.name); }
        if (node.superClass) walk(node.superClass, s, fnDepth, node, "superClass");
        walk(node.body, s, fnDepth, node, "body");
        return;
      }
      case "BlockStatement":
      case "StaticBlock": {
        const s = newScope(scope, fnDepth);
        lexical(node.body, s.names);
        for (const st of node.body) walk(st, s, fnDepth, node, "body");
        return;
      }
      case "SwitchStatement": {
        walk(node.discriminant, scope, fnDepth, node, "discriminant");
        const s = newScope(scope, fnDepth);
        for (const c of node.cases) lexical(c.consequent, s.names);
        for (const c of node.cases) walk(c, s, fnDepth, node, "cases");
        return;
      }
      case "ForStatement":
      case "ForInStatement":
      case "ForOfStatement": {
        const decl = node.type === "ForStatement" ? node.init : node.left;
        let s = scope;
        if (decl && decl.type === "VariableDeclaration" && decl.kind !== "var") {
          s = newScope(scope, fnDepth, node);
          for (const d of decl.declarations) for (const id of patternNames(d.id, [])) s.names.add(id.name);
        }
        for (const k of ["init", "left", "test", "update", "right", "body"]) {
          if (node[k]) walk(node[k], s, fnDepth, node, k);
        }
        return;
      }
      case "CatchClause": {
        const s = newScope(scope, fnDepth);
        if (node.param) { mark(node.param); for (const id of patternNames(node.param, [])) s.names.add(id.name); walk(node.param, s, fnDepth, node, "param"); }
        walk(node.body, s, fnDepth, node, "body");
        return;
      }
      case "VariableDeclarator":
        mark(node.id);
        break;
      case "ImportSpecifier": case "ImportDefaultSpecifier": case "ImportNamespaceSpecifier":
        mark(node.local);
        return;
      case "Identifier":
        if (!bindings.has(node) && isReference(node, parent, key)) resolve(node, scope, fnDepth);
        return;
    }
    for (const k of Object.keys(node)) {
      if (k === "loc" || k === "type" || k === "regex") continue;
      const v = node[k];
      if (Array.isArray(v)) {
        for (const item of v) if (item && typeof item.type === "string") walk(item, scope, fnDepth, node, k);
      } else if (v && typeof v === "object" && typeof v.type === "string") {
        walk(v, scope, fnDepth, node, k);
      }
    }
  };
  walk(ast, newScope(null, 0), 0, null, null);
  return info;
}

/**
 * What Espruino's small regex matcher (jswrap_regexp.c) cannot do. It supports literals, `.`,
 * [classes] with ranges and [^negation], \\d\\D\\s\\S\\w\\W\\xNN\\0\\n\\r\\t\\f\\v, `*`, `+`, `^`, `$`,
 * top-level `|` and plain (capturing) groups; anything else is an error or, worse, a literal.
 */
export function regexLimits(pattern: string): string[] {
  const out = new Set<string>();
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      const e = pattern[i + 1] || "";
      if (e === "u") out.add("\\u escapes are not supported in Espruino regexes; use \\xNN");
      else if (e === "p" || e === "P") out.add("Unicode property escapes \\p{} are not supported in Espruino regexes");
      else if (e === "c") out.add("control escapes \\cX are not supported in Espruino regexes");
      else if (!inClass && (e === "b" || e === "B")) out.add("\\b/\\B word boundaries are not supported (\\b matches a backspace on Espruino)");
      else if (!inClass && e >= "1" && e <= "9") out.add("backreferences (\\1) are not supported in Espruino regexes");
      else if (!inClass && e === "k") out.add("named backreferences are not supported in Espruino regexes");
      i++;
      continue;
    }
    if (inClass) { if (c === "]") inClass = false; continue; }
    if (c === "[") { inClass = true; continue; }
    if (c === "(" && pattern[i + 1] === "?") {
      out.add("(?:...), lookahead and other (?...) groups are not supported in Espruino regexes");
      i++;
      continue;
    }
    if (c === "?") out.add("the ? quantifier (and lazy *? / +?) is not supported: Espruino matches a literal ?");
    if (c === "{" && /^\{\d+(,\d*)?\}/.test(pattern.slice(i))) out.add("{n,m} quantifiers are not supported in Espruino regexes");
    if (c === ")" && /[*+?{]/.test(pattern[i + 1] || "")) out.add("a quantifier after a group is not supported in Espruino regexes");
    if (c === "|" && groupDepth(pattern, i) > 0) out.add("| inside a group is not supported (Espruino splits on every |)");
  }
  return [...out];
}

function groupDepth(pattern: string, end: number): number {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < end; i++) {
    const c = pattern[i];
    if (c === "\\") { i++; continue; }
    if (inClass) { if (c === "]") inClass = false; continue; }
    if (c === "[") inClass = true;
    else if (c === "(") depth++;
    else if (c === ")") depth--;
  }
  return depth;
}

/** Is this Identifier a variable reference (not a property name, label, or key)? */
function isReference(node: Node, parent: Node | null, key: string | null): boolean {
  if (!parent) return true;
  switch (parent.type) {
    case "MemberExpression": return key === "object" || parent.computed;
    case "Property": return key === "value" || parent.computed;
    case "MethodDefinition": case "PropertyDefinition": return key !== "key" || parent.computed;
    case "LabeledStatement": case "BreakStatement": case "ContinueStatement": return false;
    case "MetaProperty": return false;
    case "ExportSpecifier": return key === "local";
    case "ImportSpecifier": case "ImportDefaultSpecifier": case "ImportNamespaceSpecifier": return false;
    default: return true;
  }
}

type Visitor = (node: Node, parent: Node | null, key: string | null) => void;

/** Depth-first walk over every ESTree node (pre-order). */
function visit(node: Node, parent: Node | null, key: string | null, fn: Visitor): void {
  fn(node, parent, key);
  for (const k of Object.keys(node)) {
    if (k === "loc" || k === "start" || k === "end" || k === "type" || k === "regex") continue;
    const v = node[k];
    if (Array.isArray(v)) {
      for (const item of v) if (item && typeof item.type === "string") visit(item, node, k, fn);
    } else if (v && typeof v === "object" && typeof v.type === "string") {
      visit(v, node, k, fn);
    }
  }
}

/** Count function bodies (each costs JsVars on the board). */
export function countFunctions(code: string): number {
  let n = 0;
  try {
    const ast = parse(code, { ecmaVersion: "latest", sourceType: "script", allowReturnOutsideFunction: true }) as unknown as Node;
    visit(ast, null, null, (node) => { if (FUNCTION_TYPES.has(node.type)) n++; });
  } catch {
    return -1;
  }
  return n;
}

export function formatProblem(pr: Problem): string {
  return `${pr.file}:${pr.line}:${pr.column}  ${pr.construct}: ${pr.message}\n    near: ${pr.snippet}`;
}

function main(argv: string[]): number {
  const files = argv.filter((a) => !a.startsWith("--"));
  if (files.length === 0) {
    console.error("usage: node .build/host/src/tools/espruino-check.js firmware/*.js");
    return 2;
  }
  let failed = 0;
  for (const file of files) {
    let code: string;
    try {
      code = readFileSync(file, "latin1");
    } catch (e) {
      console.error(`${file}: cannot read (${(e as Error).message})`);
      failed++;
      continue;
    }
    const raw = Buffer.byteLength(code, "latin1");
    const gz = gzipSync(Buffer.from(code, "latin1"), { level: 9 }).length;
    const problems = checkEspruinoSyntax(code, file);
    const fns = countFunctions(code);
    const size = `${file.padEnd(24)} ${String(raw).padStart(6)} bytes, ${String(gz).padStart(5)} gzipped, ${fns} functions`;
    if (problems.length === 0) {
      console.log(`${size} — Espruino syntax OK`);
    } else {
      failed++;
      console.log(`${size} — ${problems.length} Espruino problem${problems.length > 1 ? "s" : ""}:`);
      for (const pr of problems) console.log("  " + formatProblem(pr));
    }
  }
  if (failed) console.error(`espruino-check: ${failed} file(s) failed`);
  return failed ? 1 : 0;
}

const invokedDirectly = (() => {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();
if (invokedDirectly) process.exitCode = main(process.argv.slice(2));
