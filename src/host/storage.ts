// The board's Storage (flash file system) for the host simulator, backed by a folder: one file per
// Storage file, contents as raw bytes (a Storage string is a binary string), name escaped for the disk.
import fs from "node:fs";
import path from "node:path";

/** Longest Storage file name on Espruino 2v29. */
export const MAX_NAME = 28;
/** Per-file overhead in flash (header), for the free-space estimate. */
const HEADER = 32;

/** Storage name -> file name in the folder: anything outside [A-Za-z0-9_.-] as %XX; "." and ".." escaped. */
export function diskName(name: string): string {
  let s = "";
  for (const ch of name) {
    const c = ch.charCodeAt(0);
    if (/[A-Za-z0-9_.-]/.test(ch)) s += ch;
    else if (c < 256) s += "%" + c.toString(16).toUpperCase().padStart(2, "0");
    else s += encodeURIComponent(ch);
  }
  if (s === "." || s === "..") s = s.replace(/\./g, "%2E");
  return s;
}

/** File name in the folder -> Storage name (inverse of diskName). */
export function fromDisk(file: string): string {
  // %XX below 0x80 and latin1 bytes were written as single %XX; others are UTF-8 sequences from encodeURIComponent
  return file.replace(/(%[0-9A-F]{2})+/g, (m) => {
    const bytes = m.split("%").filter(Boolean).map((h) => parseInt(h, 16));
    if (bytes.every((b) => b < 0x80)) return String.fromCharCode(...bytes);
    try { return decodeURIComponent(m); } catch { return String.fromCharCode(...bytes); }
  });
}

/** Flash operations since the board was made (what wears the flash): see SimStorage.wear. */
export interface FlashWear {
  /** Storage.write calls that wrote bytes (a write of exactly the present content is none, as on Espruino). */
  writes: number;
  /** Of those, writes that replaced an existing file (an erase on a board), not filled erased bytes in. */
  erases: number;
  /** Bytes of data written. */
  bytes: number;
}

/** Thrown by a Storage write that a power cut interrupted (the board is halted by then). */
export class PowerCut extends Error {
  constructor() { super("power cut"); }
}

// Power cuts: Espruino's Storage changes flash in steps, and a power cut can stop it between any two.
// Counted in "units": erasing a file (its header is marked erased: one word) is 1 unit, creating one
// (its header written; the file then reads as `size` bytes of 0xFF) is 1 unit, and each data byte is
// 1 unit. Rewriting a file at offset 0 erases the old one first, so a cut there leaves no file, an
// empty (0xFF) file, or one with only the first bytes of the new data. cutAfter(n) lets n more units
// happen, then the power goes (onPowerCut halts the board) and the write throws PowerCut; until
// powerOn() every write and erase throws without changing anything.
export class SimStorage {
  /** Total flash bytes for files (board storage_bytes). */
  readonly size: number;
  /** Flash writes, erases and bytes so far (Storage.write from board code; erase() is not counted). */
  readonly wear: FlashWear = { writes: 0, erases: 0, bytes: 0 };
  /** Units of flash changes done so far (see cutAfter). */
  units = 0;
  /** Power is off: nothing can be written. */
  dead = false;
  private cutLeft?: number;

  constructor(readonly dir: string, size = 917504) {
    this.size = size;
    fs.mkdirSync(dir, { recursive: true });
  }

  private file(name: string): string {
    return path.join(this.dir, diskName(name));
  }

  private static checkName(name: string): void {
    if (typeof name !== "string" || !name.length) throw new Error("Invalid Storage file name");
    if (name.length > MAX_NAME) throw new Error(`File name too long (max ${MAX_NAME} chars): ${JSON.stringify(name)}`);
  }

  /** Called when a cutAfter() fires (the simulator halts the board there). */
  onPowerCut?: () => void;

  /** After `n` more units of flash changes, the power goes: onPowerCut runs and the write throws PowerCut. */
  cutAfter(n: number): void {
    this.cutLeft = Math.max(0, Math.floor(n));
  }

  /** Power back: writes work again (a pending cutAfter is cancelled). */
  powerOn(): void {
    this.dead = false;
    this.cutLeft = undefined;
  }

  // How many of `n` units can happen before a cut (all of them when no cut is pending).
  private spend(n: number): number {
    if (this.dead) throw new PowerCut();
    const k = this.cutLeft === undefined ? n : Math.min(n, this.cutLeft);
    if (this.cutLeft !== undefined) this.cutLeft -= k;
    this.units += k;
    return k;
  }

  private cut(): never {
    this.dead = true;
    this.cutLeft = undefined;
    this.onPowerCut?.();
    throw new PowerCut();
  }

  /** Contents as a binary string, or undefined when there is no such file. */
  read(name: string, offset = 0, length?: number): string | undefined {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(this.file(String(name)));
    } catch {
      return undefined;
    }
    const start = Math.max(0, offset | 0);
    const end = length === undefined ? buf.length : Math.min(buf.length, start + Math.max(0, length | 0));
    return buf.toString("latin1", start, end);
  }

  /** Host convenience: the file as UTF-8 text (e.g. a JSON config), or undefined. */
  readText(name: string): string | undefined {
    try { return fs.readFileSync(this.file(name), "utf8"); } catch { return undefined; }
  }

  /**
   * Writes a file, with Espruino's rules: data is a binary string (host callers may pass a Buffer or
   * UTF-8 text with `utf8`); zero-length files are refused; with offset/size the file is created at
   * `size` bytes of 0xFF on the first (offset 0) write and later parts fill it in.
   */
  write(name: string, data: string | Uint8Array, offset?: number, size?: number): boolean {
    SimStorage.checkName(name);
    const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : Buffer.from(data);
    const off = offset === undefined ? 0 : Math.floor(Number(offset));
    const total = size ? Math.floor(Number(size)) : 0;
    if (off < 0 || total < 0) return false;
    const file = this.file(name);
    const existing = fs.existsSync(file) ? fs.readFileSync(file) : undefined;
    if (this.dead) throw new PowerCut();
    if (off === 0) {
      const len = total || bytes.length;
      if (!len) throw new Error("Can't create zero length file");
      if (bytes.length > len) throw new Error("Too much data for file size");
      const out = Buffer.alloc(len, 0xff);
      bytes.copy(out, 0);
      // The very same contents: Espruino leaves the file alone (no erase, no write).
      if (existing && existing.equals(out)) return true;
      const need = len + HEADER - (existing ? existing.length + HEADER : 0);
      if (need > 0 && need > this.free()) throw new Error("Unable to find or create file");
      this.wear.writes++; this.wear.bytes += bytes.length;
      if (existing) this.wear.erases++;
      if (existing) {
        if (!this.spend(1)) this.cut();
        fs.unlinkSync(file);
      }
      if (!this.spend(1)) this.cut();
      const k = this.spend(bytes.length);
      fs.writeFileSync(file, Buffer.concat([bytes.subarray(0, k), Buffer.alloc(len - k, 0xff)]));
      if (k < bytes.length) this.cut();
      return true;
    }
    if (!existing) throw new Error("Unable to find or create file");
    if (off + bytes.length > existing.length) throw new Error("Too much data for file size");
    for (let i = 0; i < bytes.length; i++) {
      if (existing[off + i] !== 0xff && existing[off + i] !== bytes[i]) throw new Error("File already written with different data");
    }
    const k = this.spend(bytes.length);
    bytes.copy(existing, off, 0, k);
    this.wear.writes++; this.wear.bytes += k;
    fs.writeFileSync(file, existing);
    if (k < bytes.length) this.cut();
    return true;
  }

  /** Host convenience: writes UTF-8 text (what `espruino --storage name:file` uploads). */
  writeText(name: string, text: string): void {
    this.write(name, Buffer.from(text, "utf8"));
  }

  erase(name: string): void {
    const file = this.file(String(name));
    if (!fs.existsSync(file)) return; // not there: Espruino ignores it too
    if (!this.spend(1)) this.cut();
    fs.unlinkSync(file);
  }

  eraseAll(): void {
    for (const f of fs.readdirSync(this.dir)) fs.rmSync(path.join(this.dir, f), { force: true, recursive: true });
  }

  /** Storage names, sorted. */
  list(): string[] {
    return fs.readdirSync(this.dir, { withFileTypes: true }).filter((d) => d.isFile()).map((d) => fromDisk(d.name)).sort();
  }

  /** Bytes used by files, headers included (rounded to 4 bytes like flash words). */
  used(): number {
    let n = 0;
    for (const name of this.list()) {
      try { n += HEADER + ((fs.statSync(this.file(name)).size + 3) & ~3); } catch { /* raced */ }
    }
    return n;
  }

  free(): number {
    return Math.max(0, this.size - this.used());
  }

  stats(): { totalBytes: number; freeBytes: number; fileBytes: number; fileCount: number; trashBytes: number; trashCount: number } {
    const files = this.list();
    const used = this.used();
    return { totalBytes: this.size, freeBytes: this.size - used, fileBytes: used, fileCount: files.length, trashBytes: 0, trashCount: 0 };
  }
}
