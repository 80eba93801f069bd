// Runs a script under a real Espruino interpreter for Linux (the bench and the soak): the script
// reports by printing lines that start with "@@", which arrive here one whole line at a time.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export interface EspruinoRun {
  proc: ChildProcess;
  /** Everything it printed (the first 4 MB), without the start-up banner. */
  output: () => string;
  /** "code N", "signal S" or "spawn error ..." once it has ended. */
  exited: Promise<string>;
  kill: () => void;
}

/**
 * Writes `script` as `file` in `cwd` and runs it there (cwd decides where require() finds
 * ./node_modules and ./espruino.flash). `onLine` gets the text after "@@" and the whole line.
 */
export function runEspruino(bin: string, cwd: string, file: string, script: string,
  onLine: (text: string, line: string) => void): EspruinoRun {
  fs.writeFileSync(path.join(cwd, file), script);
  // stdin: a pipe that stays open (a closed stdin makes the Linux console spin reading NULs).
  const proc = spawn(bin, [file], { cwd, stdio: ["pipe", "pipe", "pipe"] });
  let out = "", partial = "";
  const feed = (d: Buffer) => {
    const s = d.toString("latin1");
    if (out.length < 4e6) out += s;
    partial += s;
    const lines = partial.split(/\r?\n/);
    partial = lines.pop() ?? "";
    for (const l of lines) {
      const k = l.indexOf("@@");
      if (k >= 0) onLine(l.slice(k + 2), l);
    }
  };
  proc.stdout!.on("data", feed);
  proc.stderr!.on("data", feed);
  const exited = new Promise<string>((resolve) => {
    proc.once("exit", (code, sig) => resolve(sig ? `signal ${sig}` : `code ${code}`));
    proc.once("error", (e) => resolve(`spawn error ${e.message}`));
  });
  return {
    proc, exited,
    output: () => { const i = out.indexOf("espruino.com/Donate"); return i >= 0 ? out.slice(out.indexOf("\n", i) + 1) : out; },
    kill: () => { if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL"); },
  };
}

/**
 * Writes `files` into the Storage of `cwd` (its ./espruino.flash) with a first run of the interpreter,
 * in pieces from string literals in its script: the interpreter may have no file system module, and a
 * board receiving files over its console gets them the same way. Throws unless every file is listed.
 */
export async function writeStorage(bin: string, cwd: string, files: { name: string; file: string }[]): Promise<void> {
  let script = "var S = require(\"Storage\");\n";
  for (const f of files) {
    const text = fs.readFileSync(f.file, "latin1");
    for (let k = 0; k < text.length; k += 1024) {
      script += `S.write(${JSON.stringify(f.name)}, ${JSON.stringify(text.slice(k, k + 1024))}, ${k}, ${text.length});\n`;
    }
  }
  script += `print("@@WROTE " + S.list().join(","));\n`;
  let listed: string[] = [];
  const r = runEspruino(bin, cwd, "write-storage.js", script, (text) => {
    const m = /^WROTE (.*)$/.exec(text.trim());
    if (m) listed = m[1].split(",");
  });
  const t = setTimeout(r.kill, 20000);
  await r.exited;
  clearTimeout(t);
  r.proc.stdin!.destroy();
  const missing = files.filter((f) => !listed.includes(f.name)).map((f) => f.name);
  if (missing.length) throw new Error(`could not write ${missing.join(", ")} into Storage: ${r.output().trim().split("\n").slice(-3).join(" | ")}`);
}
