// The local store of device keys: one file per board, named by its MQTT client id, under the user's
// config directory (${XDG_CONFIG_HOME:-~/.config}/mote/keys/<client_id>.key), outside any git checkout.
// flash.sh writes a key there when it flashes a board with `remote`; `mote` reads it back by client id.
// Files are mode 600 in a mode 700 folder: a key lets whoever holds it change the board.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** Fewest characters a device key may have (the board's validator says the same of remote.key). */
export const MIN_KEY_LENGTH = 16;

/** The folder holding the keys (created on first save). */
export function keyDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(os.homedir(), ".config");
  return path.join(base, "mote", "keys");
}

/**
 * The file of one client id. A client id is any MQTT string, so bytes outside [A-Za-z0-9_.-] (and a
 * leading dot, which would hide the file or name "." and "..") are written as %XX of their UTF-8 bytes.
 */
export function keyPath(clientId: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!clientId) throw new Error("no client id: the key store names each key by the board's MQTT client id");
  let name = "";
  for (const byte of Buffer.from(clientId, "utf8")) {
    const ch = String.fromCharCode(byte);
    const plain = /[A-Za-z0-9_-]/.test(ch) || (ch == "." && name != "");
    name += plain ? ch : "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return path.join(keyDir(env), name + ".key");
}

/** A new random device key: 32 characters of base64url (192 bits), safe in JSON, shells and file names. */
export function generateKey(): string {
  return crypto.randomBytes(24).toString("base64url");
}

/** Why `key` cannot be a device key, or undefined when it can. */
export function keyProblem(key: string): string | undefined {
  if (key.length < MIN_KEY_LENGTH) return `a device key has at least ${MIN_KEY_LENGTH} characters (this one has ${key.length})`;
  if (/[\0-\x1f\x7f]/.test(key)) return "a device key has no control characters (line breaks included)";
  return undefined;
}

/** Stores the key of a client id (replacing any older one); returns the file's path. */
export function saveKey(clientId: string, key: string, env: NodeJS.ProcessEnv = process.env): string {
  const problem = keyProblem(key);
  if (problem) throw new Error(problem);
  const file = keyPath(clientId, env);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // Written beside and renamed: a crash never leaves half a key, and the mode is set before the key is in it.
  const tmp = file + ".tmp-" + process.pid;
  fs.writeFileSync(tmp, key + "\n", { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
  return file;
}

/** The stored key of a client id, or undefined when there is none. */
export function readKey(clientId: string, env: NodeJS.ProcessEnv = process.env): { key: string; file: string } | undefined {
  const file = keyPath(clientId, env);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code == "ENOENT") return undefined;
    throw new Error(`cannot read the device key ${file}: ${(e as Error).message}`);
  }
  const key = text.trim();
  const problem = keyProblem(key);
  if (problem) throw new Error(`${file}: ${problem}`);
  return { key, file };
}

/** The key in a file given by the user (--key-file), checked. */
export function readKeyFile(file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`--key-file: cannot read ${file}: ${(e as NodeJS.ErrnoException).code || (e as Error).message}`);
  }
  const key = text.trim();
  const problem = keyProblem(key);
  if (problem) throw new Error(`--key-file ${file}: ${problem}`);
  return key;
}
