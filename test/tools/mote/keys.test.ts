// The key store (src/tools/mote/keys.ts): where keys live, how client ids become file names, modes,
// and the checks on keys read from files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync, statSync, readdirSync, rmSync } from "node:fs";
import { tmpdir, homedir } from "node:os";
import { join } from "node:path";
import { keyDir, keyPath, saveKey, readKey, readKeyFile, generateKey, keyProblem } from "../../../src/tools/mote/keys.js";

test("the store is ${XDG_CONFIG_HOME:-~/.config}/mote/keys; a relative XDG_CONFIG_HOME is ignored (XDG spec)", () => {
  assert.equal(keyDir({ XDG_CONFIG_HOME: "/x/conf" }), "/x/conf/mote/keys");
  assert.equal(keyDir({}), join(homedir(), ".config/mote/keys"));
  assert.equal(keyDir({ XDG_CONFIG_HOME: "rel/conf" }), join(homedir(), ".config/mote/keys"));
});

test("client ids become safe file names, one per id", () => {
  const env = { XDG_CONFIG_HOME: "/c" };
  assert.equal(keyPath("garage-1", env), "/c/mote/keys/garage-1.key");
  assert.equal(keyPath("a.b_C", env), "/c/mote/keys/a.b_C.key");
  assert.equal(keyPath("../etc/passwd", env), "/c/mote/keys/%2E.%2Fetc%2Fpasswd.key");
  assert.equal(keyPath("..", env), "/c/mote/keys/%2E..key");
  assert.equal(keyPath("é *", env), "/c/mote/keys/%C3%A9%20%2A.key");
  // distinct ids, distinct files (a % in an id is itself encoded)
  assert.notEqual(keyPath("a%2F", env), keyPath("a/", env));
  assert.throws(() => keyPath("", env), /no client id/);
});

test("save and read back: mode 600 in a mode 700 folder, replaced atomically, no stray files", () => {
  const dir = mkdtempSync(join(tmpdir(), "mote-keys-"));
  const env = { XDG_CONFIG_HOME: dir };
  try {
    assert.equal(readKey("board-1", env), undefined);
    const k1 = generateKey(), k2 = generateKey();
    const file = saveKey("board-1", k1, env);
    assert.equal(file, join(dir, "mote/keys/board-1.key"));
    assert.equal(readFileSync(file, "utf8"), k1 + "\n");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, "mote/keys")).mode & 0o777, 0o700);
    assert.deepEqual(readKey("board-1", env), { key: k1, file });
    saveKey("board-1", k2, env);
    assert.equal(readKey("board-1", env)?.key, k2);
    assert.deepEqual(readdirSync(join(dir, "mote/keys")), ["board-1.key"]);
    assert.throws(() => saveKey("board-2", "short", env), /at least 16 characters \(this one has 5\)/);
    writeFileSync(join(dir, "mote/keys/board-3.key"), "tiny\n");
    assert.throws(() => readKey("board-3", env), /board-3\.key: a device key has at least 16 characters/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("generated keys: 32 base64url characters, all different", () => {
  const keys = new Set(Array.from({ length: 200 }, generateKey));
  assert.equal(keys.size, 200);
  for (const k of keys) { assert.match(k, /^[A-Za-z0-9_-]{32}$/); assert.equal(keyProblem(k), undefined); }
  assert.match(keyProblem("0123456789abcde") as string, /at least 16/);
  assert.match(keyProblem("0123456789abcdef\n0") as string, /control characters/);
});

test("--key-file: trimmed, checked, unreadable files named", () => {
  const dir = mkdtempSync(join(tmpdir(), "mote-keyfile-"));
  try {
    writeFileSync(join(dir, "k"), "  0123456789abcdef0123\n");
    assert.equal(readKeyFile(join(dir, "k")), "0123456789abcdef0123");
    writeFileSync(join(dir, "s"), "abc\n");
    assert.throws(() => readKeyFile(join(dir, "s")), new RegExp(`--key-file ${join(dir, "s")}: a device key has at least 16`));
    assert.throws(() => readKeyFile(join(dir, "none")), new RegExp(`--key-file: cannot read ${join(dir, "none")}: ENOENT`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
