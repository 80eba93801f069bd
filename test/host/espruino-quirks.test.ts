// Espruino behaviours that differ from JavaScript engines and that the simulator reproduces,
// so that board code relying on the standard answer fails here as it would on a board.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SimBoard } from "../../src/host/simulator.js";

test("String indexOf/includes/replace count a needle cut off at the end as found, as Espruino 2v2x does", (t) => {
  const board = new SimBoard({});
  t.after(() => board.close());
  // Measured on Espruino 2v29 for Linux (jswrap_string_indexOf compares with equalAtEndOfString).
  assert.equal(board.run('"abc".indexOf("cd")'), 2);
  assert.equal(board.run('"/dev/one/".indexOf("//")'), 8);
  assert.equal(board.run('"abcab".indexOf("abx")'), 3);
  assert.equal(board.run('"abc".includes("cd")'), true);
  assert.equal(board.run('"abc".replace("cd", "X")'), "abX");
  // What is not affected: a needle longer than the string, a real match, single characters, regexps.
  assert.equal(board.run('"xx".indexOf("xxx")'), -1);
  assert.equal(board.run('"a//b".indexOf("//")'), 1);
  assert.equal(board.run('"abc".indexOf("d")'), -1);
  assert.equal(board.run('"abc".replace(/cd/, "X")'), "abc");
  assert.equal(board.run('"config: x".indexOf("config:")'), 0);
});

test("Object.assign throws on a boolean, number or string source, as Espruino 2v2x does", (t) => {
  const board = new SimBoard({});
  t.after(() => board.close());
  // Measured on Espruino 2v29 for Linux: "Expecting Object, got Number" (also for booleans).
  for (const src of ["false", "true", "0", '"ab"']) {
    assert.throws(() => board.run(`Object.assign({}, ${src}, {a: 1})`), /Expecting Object/, src);
  }
  assert.equal(board.run("JSON.stringify(Object.assign({}, null, undefined, {a: 1}))"), '{"a":1}');
});

test("with bytes: true, JSON.parse keeps 8 bits of a \\u escape, as Espruino built without Unicode support does", (t) => {
  // Measured on Espruino 2v29 for Linux: JSON.parse('"\\u0100"').charCodeAt(0) is 0 on the build
  // without Unicode support (as the ESP32/ESP8266 firmware is built) and 256 on the one with it.
  const bytes = new SimBoard({ bytes: true }), text = new SimBoard({});
  t.after(() => { bytes.close(); text.close(); });
  assert.equal(bytes.run(`JSON.parse('"\\\\u0100"').charCodeAt(0)`), 0);
  assert.equal(bytes.run(`JSON.parse('"\\\\u0141\\\\\\\\u0100"')`), "A\\u0100", "an escaped backslash starts no escape");
  assert.equal(bytes.run(`JSON.parse('{"a":"\\\\u00e9"}').a.charCodeAt(0)`), 0xe9);
  assert.equal(text.run(`JSON.parse('"\\\\u0100"').charCodeAt(0)`), 256);
});
