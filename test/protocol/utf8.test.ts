// UTF-8 between JS text and binary strings: src/protocol/utf8.ts.
// Expected bytes come from Node's own encoder (Buffer.from(text, "utf8")) and,
// for decoding, from the WHATWG decoder in fatal mode (TextDecoder), which
// implements the same well-formedness rules as RFC 3629.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { toUtf8, fromUtf8 } from "../../src/protocol/utf8.js";
import { utf8, bytes, hex, prng } from "./helpers.js";

const cp = (n: number) => String.fromCodePoint(n);

describe("utf8: toUtf8 / fromUtf8 round trips against Node's encoder", () => {
  const samples: [string, string][] = [
    ["empty", ""],
    ["ASCII", "hello/world 123 ~!@$%^&*()_-={}[]|\\:;'<>,.?"],
    ["ASCII without NUL, 1..127", Array.from({ length: 127 }, (_, i) => String.fromCharCode(i + 1)).join("")],
    ["Latin-1", "café naïve Ærø ß ¡¿ ÿ"],
    ["Latin-1, U+0080..U+00FF", Array.from({ length: 128 }, (_, i) => String.fromCharCode(0x80 + i)).join("")],
    ["BMP 2-byte", "Ωμέγα Привет עברית"],
    ["BMP 3-byte", "日本語 € ✓ \u2028 \ufffd"],
    ["U+FEFF inside and at the start [MQTT-1.5.3-3]", "\ufeffa\ufeffb"],
    ["astral (surrogate pairs)", "😀 𝄞 𠜎 \u{1F680}"],
    ["mixed", "a/é/日/😀/z"],
  ];
  for (const [name, text] of samples) {
    test(`${name}: toUtf8 gives Node's bytes, fromUtf8 gives the text back`, () => {
      const expected = utf8(text);
      assert.equal(hex(toUtf8(text)!), hex(expected));
      assert.equal(fromUtf8(expected), text);
    });
  }

  test("code points at every encoding-length boundary", () => {
    const points = [0x01, 0x7f, 0x80, 0xff, 0x100, 0x7ff, 0x800, 0xfff, 0x1000, 0xd7ff, 0xe000, 0xfeff,
      0xfffd, 0xfffe, 0xffff, 0x10000, 0x1ffff, 0x3ffff, 0x40000, 0xfffff, 0x100000, 0x10fffe, 0x10ffff];
    for (const p of points) {
      const text = cp(p), expected = utf8(text);
      assert.equal(hex(toUtf8(text)!), hex(expected), `U+${p.toString(16)}`);
      assert.equal(fromUtf8(expected), text, `U+${p.toString(16)}`);
    }
  });

  test("every BMP code point except NUL and surrogates, in one string", () => {
    let text = "";
    for (let c = 1; c < 0x10000; c++) if (c < 0xd800 || c >= 0xe000) text += String.fromCharCode(c);
    const expected = utf8(text);
    assert.ok(toUtf8(text) === expected, "toUtf8 differs from Buffer.from(text, 'utf8')");
    assert.ok(fromUtf8(expected) === text, "fromUtf8 does not give the text back");
  });

  test("a sample of astral code points (every 0x7ff-th one up to U+10FFFF)", () => {
    let text = "";
    for (let c = 0x10000; c <= 0x10ffff; c += 0x7ff) text += cp(c);
    text += cp(0x10ffff);
    const expected = utf8(text);
    assert.ok(toUtf8(text) === expected);
    assert.ok(fromUtf8(expected) === text);
  });

  test("NUL is encodable by toUtf8 (the topic check rejects it separately)", () => {
    assert.equal(toUtf8("a\0b"), utf8("a\0b"));
  });
});

describe("utf8: toUtf8 rejects text that is not Unicode (lone surrogates)", () => {
  const bad: [string, string][] = [
    ["lone high surrogate", "\ud800"],
    ["lone low surrogate", "\udc00"],
    ["high surrogate at the end", "abc\udbff"],
    ["high surrogate followed by ASCII", "a\ud83db"],
    ["low surrogate after ASCII", "a\ude00b"],
    ["reversed pair", "\ude00\ud83d"],
    ["two high surrogates", "\ud800\ud800"],
    ["valid pair then lone low", "\ud83d\ude00\ude00"],
    ["lone surrogate after non-ASCII", "é\udfff"],
  ];
  for (const [name, text] of bad) {
    test(`${name} -> undefined`, () => assert.equal(toUtf8(text), undefined));
  }
});

describe("utf8: fromUtf8 rejects ill-formed UTF-8 [MQTT-1.5.3-1] and U+0000 [MQTT-1.5.3-2]", () => {
  const bad: [string, number[]][] = [
    ["[MQTT-1.5.3-2] NUL", [0x00]],
    ["[MQTT-1.5.3-2] NUL inside ASCII", [0x61, 0x00, 0x62]],
    ["[MQTT-1.5.3-2] NUL after non-ASCII", [0xc3, 0xa9, 0x00]],
    ["overlong NUL C0 80", [0xc0, 0x80]],
    ["overlong C1 BF", [0xc1, 0xbf]],
    ["overlong 3-byte NUL E0 80 80", [0xe0, 0x80, 0x80]],
    ["overlong 3-byte U+07FF E0 9F BF", [0xe0, 0x9f, 0xbf]],
    ["overlong 4-byte F0 80 80 80", [0xf0, 0x80, 0x80, 0x80]],
    ["overlong 4-byte U+FFFF F0 8F BF BF", [0xf0, 0x8f, 0xbf, 0xbf]],
    ["[MQTT-1.5.3-1] surrogate U+D800 ED A0 80", [0xed, 0xa0, 0x80]],
    ["[MQTT-1.5.3-1] surrogate U+DFFF ED BF BF", [0xed, 0xbf, 0xbf]],
    ["[MQTT-1.5.3-1] CESU-8 pair ED A0 BD ED B8 80", [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80]],
    ["> U+10FFFF F4 90 80 80", [0xf4, 0x90, 0x80, 0x80]],
    ["F5 lead byte", [0xf5, 0x80, 0x80, 0x80]],
    ["F8 (5-byte form)", [0xf8, 0x88, 0x80, 0x80, 0x80]],
    ["FE", [0xfe]],
    ["FF", [0xff]],
    ["truncated 2-byte", [0xc3]],
    ["truncated 2-byte after ASCII", [0x61, 0xc3]],
    ["truncated 3-byte (1 of 2)", [0xe2]],
    ["truncated 3-byte (2 of 3)", [0xe2, 0x82]],
    ["truncated 4-byte (3 of 4)", [0xf0, 0x9f, 0x98]],
    ["stray continuation 80", [0x80]],
    ["stray continuation BF after ASCII", [0x61, 0xbf, 0x62]],
    ["stray continuation after a complete sequence", [0xc3, 0xa9, 0xa9]],
    ["lead byte followed by ASCII", [0xc3, 0x41]],
    ["3-byte lead with bad second byte", [0xe2, 0x28, 0xa1]],
    ["3-byte lead with bad third byte", [0xe2, 0x82, 0x28]],
    ["4-byte lead with bad fourth byte", [0xf0, 0x9f, 0x98, 0x41]],
    ["continuation byte C0 range as continuation", [0xc3, 0xc0]],
  ];
  for (const [name, b] of bad) {
    test(`${name} -> undefined`, () => assert.equal(fromUtf8(bytes(...b)), undefined, hex(bytes(...b))));
  }

  test("[MQTT-1.5.3-3] EF BB BF is decoded to U+FEFF and kept, at the start and inside", () => {
    assert.equal(fromUtf8(bytes(0xef, 0xbb, 0xbf)), "\ufeff");
    assert.equal(fromUtf8(bytes(0xef, 0xbb, 0xbf, 0x61, 0xef, 0xbb, 0xbf)), "\ufeffa\ufeff");
  });

  test("agrees with the WHATWG fatal decoder on 30000 random byte strings (NUL aside)", () => {
    const td = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    // Biased alphabet: the bytes where the rules are decided.
    const alphabet = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0,
      0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff, 0xbb];
    const rnd = prng(1234);
    let valid = 0;
    for (let k = 0; k < 30000; k++) {
      const len = Math.floor(rnd() * 7);
      const b: number[] = [];
      for (let j = 0; j < len; j++) b.push(rnd() < 0.8 ? alphabet[Math.floor(rnd() * alphabet.length)] : Math.floor(rnd() * 256));
      let expected: string | undefined;
      try { expected = td.decode(new Uint8Array(b)); } catch { expected = undefined; }
      if (expected !== undefined && expected.includes("\0")) expected = undefined;
      if (expected !== undefined) valid++;
      assert.equal(fromUtf8(bytes(...b)), expected, hex(bytes(...b)));
    }
    assert.ok(valid > 1000, "the sample holds enough well-formed strings to be meaningful");
  });
});
