// Topic names and filters: src/protocol/topic.ts, against MQTT 3.1.1 section 4.7.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { topicError, topicMatches } from "../../src/protocol/topic.js";

const NAME = false, FILTER = true;

describe("topic: topicError for topic names", () => {
  const valid = ["a", "a/b", "/", "a//b", "//", "a/", "/a", "$SYS/x", "$", " ", "sport/tennis/player1",
    "Accounts payable", "é/日本/😀", "\ufeff", "a".repeat(65535), "é".repeat(32767) + "a" /* 65535 bytes */];
  for (const t of valid) {
    test(`valid name ${JSON.stringify(t.length > 40 ? t.slice(0, 10) + "...(" + t.length + " chars)" : t)}`, () => {
      assert.equal(topicError(t, NAME), undefined);
    });
  }
  const invalid: [string, unknown][] = [
    ["[MQTT-4.7.3-1] empty", ""],
    ["[MQTT-4.7.1-1] '+' alone", "+"],
    ["[MQTT-4.7.1-1] '#' alone", "#"],
    ["[MQTT-3.3.2-2] '+' level", "a/+/b"],
    ["[MQTT-3.3.2-2] '#' last level", "a/#"],
    ["[MQTT-3.3.2-2] '+' inside a level", "a+b"],
    ["[MQTT-3.3.2-2] '#' inside a level", "sport/tennis#"],
    ["[MQTT-4.7.3-2] U+0000", "a\0b"],
    ["[MQTT-4.7.3-2] U+0000 alone", "\0"],
    ["[MQTT-1.5.3-1] lone high surrogate", "a\ud800"],
    ["[MQTT-1.5.3-1] lone low surrogate", "\udc00/b"],
    ["[MQTT-4.7.3-3] 65536 ASCII bytes", "a".repeat(65536)],
    ["[MQTT-4.7.3-3] 65536 UTF-8 bytes from 32768 chars", "é".repeat(32768)],
    ["[MQTT-4.7.3-3] 65536 UTF-8 bytes from astral chars", "😀".repeat(16384)],
    ["not a string: undefined", undefined],
    ["not a string: number", 1],
    ["not a string: null", null],
    ["not a string: object", { toString: () => "a" }],
  ];
  for (const [name, t] of invalid) {
    test(`invalid name: ${name}`, () => {
      const e = topicError(t, NAME);
      assert.equal(typeof e, "string");
      assert.ok(e!.length > 0);
    });
  }
});

describe("topic: topicError for topic filters", () => {
  const valid = ["a", "a/b", "/", "a//b", "+", "#", "a/+/b", "a/#", "+/+", "$SYS/x", "$SYS/#", "/#", "/+", "+/",
    "+/#", "sport/tennis/player1/#", "sport/tennis/+", "+/tennis/#", "sport/+/player1", "//#", "+/+/+",
    "é/+/日本/#", "a".repeat(65535), "+/".repeat(32767) + "+" /* 65535 bytes */];
  for (const t of valid) {
    test(`valid filter ${JSON.stringify(t.length > 40 ? t.slice(0, 10) + "...(" + t.length + " chars)" : t)}`, () => {
      assert.equal(topicError(t, FILTER), undefined);
    });
  }
  const invalid: [string, unknown][] = [
    ["[MQTT-4.7.1-2] 'a#'", "a#"],
    ["[MQTT-4.7.1-2] 'a/#/b'", "a/#/b"],
    ["[MQTT-4.7.1-2] '#/a'", "#/a"],
    ["[MQTT-4.7.1-2] 'sport/tennis#'", "sport/tennis#"],
    ["[MQTT-4.7.1-2] '##'", "##"],
    ["[MQTT-4.7.1-2] 'a/#/#'", "a/#/#"],
    ["[MQTT-4.7.1-2] '#/'", "#/"],
    ["[MQTT-4.7.1-3] 'a+'", "a+"],
    ["[MQTT-4.7.1-3] 'a/b+'", "a/b+"],
    ["[MQTT-4.7.1-3] 'sport+'", "sport+"],
    ["[MQTT-4.7.1-3] '+a/b'", "+a/b"],
    ["[MQTT-4.7.1-3] '++'", "++"],
    ["[MQTT-4.7.1-3] '+#'", "+#"],
    ["[MQTT-4.7.3-1] empty", ""],
    ["[MQTT-4.7.3-2] U+0000", "a/\0"],
    ["[MQTT-1.5.3-1] lone surrogate", "+/\udbff"],
    ["[MQTT-4.7.3-3] 65536 bytes", "a/".repeat(32768)],
    ["not a string", 42],
  ];
  for (const [name, t] of invalid) {
    test(`invalid filter: ${name}`, () => {
      const e = topicError(t, FILTER);
      assert.equal(typeof e, "string");
      assert.ok(e!.length > 0);
    });
  }
});

describe("topic: topicMatches, the examples of spec section 4.7", () => {
  // [filter, topic, matches]
  const table: [string, string, boolean][] = [
    // 4.7.1.2 multi-level wildcard
    ["sport/tennis/player1/#", "sport/tennis/player1", true],
    ["sport/tennis/player1/#", "sport/tennis/player1/ranking", true],
    ["sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true],
    ["sport/tennis/player1/#", "sport/tennis/player2", false],
    ["sport/tennis/player1/#", "sport/tennis", false],
    ["sport/#", "sport", true],
    ["sport/#", "sport/", true],
    ["sport/#", "sports", false],
    ["#", "sport", true],
    ["#", "sport/tennis/player1", true],
    ["#", "/", true],
    ["#", "/finance", true],
    // 4.7.1.3 single-level wildcard
    ["sport/tennis/+", "sport/tennis/player1", true],
    ["sport/tennis/+", "sport/tennis/player2", true],
    ["sport/tennis/+", "sport/tennis/player1/ranking", false],
    ["sport/+", "sport", false],
    ["sport/+", "sport/", true],
    ["+/+", "/finance", true],
    ["/+", "/finance", true],
    ["+", "/finance", false],
    ["+", "finance", true],
    ["+/tennis/#", "sport/tennis/player1", true],
    ["+/tennis/#", "sport/tennis", true],
    ["+/tennis/#", "sport/golf", false],
    ["sport/+/player1", "sport/tennis/player1", true],
    ["sport/+/player1", "sport/tennis/player2", false],
    // 4.7.2 topics beginning with $ [MQTT-4.7.2-1]
    ["#", "$SYS/monitor/Clients", false],
    ["#", "$SYS", false],
    ["+/monitor/Clients", "$SYS/monitor/Clients", false],
    ["+", "$SYS", false],
    ["+/#", "$SYS/x", false],
    ["$SYS/#", "$SYS/monitor/Clients", true],
    ["$SYS/#", "$SYS", true],
    ["$SYS/monitor/+", "$SYS/monitor/Clients", true],
    ["$SYS/x", "$SYS/x", true],
    ["#", "a/$SYS", true],
    ["+/$x", "a/$x", true],
    // 4.7.3 topic semantics: case-sensitive, spaces allowed, leading '/' is a distinct level
    ["ACCOUNTS", "Accounts", false],
    ["Accounts", "Accounts", true],
    ["Accounts payable", "Accounts payable", true],
    ["/finance", "finance", false],
    ["finance", "/finance", false],
    // plain and structural cases
    ["a/b", "a/b", true],
    ["a/b", "a/b/c", false],
    ["a/b/c", "a/b", false],
    ["a/+/c", "a//c", true],
    ["a/+/c", "a/b/c/d", false],
    ["a/#", "a", true],
    ["a/#", "ab", false],
    ["a//b", "a/b", false],
    ["+/+", "a", false],
    ["+/+/+", "a/b/c", true],
    ["é/+", "é/日本", true],
  ];
  for (const [filter, topic, expected] of table) {
    test(`${expected ? "" : "not "}"${filter}" ~ "${topic}"`, () => {
      assert.equal(topicError(filter, FILTER), undefined, "the filter of the table is valid");
      assert.equal(topicError(topic, NAME), undefined, "the topic of the table is valid");
      assert.equal(topicMatches(filter, topic), expected);
    });
  }
});

// An independent matcher (filter -> regular expression) to compare against.
function refMatches(filter: string, topic: string): boolean {
  if (topic.startsWith("$") && (filter.startsWith("+") || filter.startsWith("#"))) return false;
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const levels = filter.split("/");
  let re = "";
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i];
    if (l === "#") { re += i === 0 ? ".*" : "(?:/.*)?"; break; }
    re += (i ? "/" : "") + (l === "+" ? "[^/]*" : esc(l));
  }
  return new RegExp("^" + re + "$", "s").test(topic);
}

test("topic: topicMatches agrees with a regular-expression matcher on every filter/topic of up to 3 levels", () => {
  const combos = (alphabet: string[]) => {
    const out: string[] = [];
    for (const a of alphabet) {
      out.push(a);
      for (const b of alphabet) {
        out.push(a + "/" + b);
        for (const c of alphabet) out.push(a + "/" + b + "/" + c);
      }
    }
    return out;
  };
  const topics = combos(["", "a", "b", "$x"]).filter((t) => topicError(t, NAME) === undefined);
  const filters = combos(["", "a", "$x", "+", "#"]).filter((f) => topicError(f, FILTER) === undefined);
  let checked = 0, matched = 0;
  for (const f of filters) {
    for (const t of topics) {
      const expected = refMatches(f, t);
      assert.equal(topicMatches(f, t), expected, `filter ${JSON.stringify(f)} topic ${JSON.stringify(t)}`);
      checked++;
      if (expected) matched++;
    }
  }
  assert.ok(checked > 5000 && matched > 300, `checked ${checked}, matched ${matched}`);
});
