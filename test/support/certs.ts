// Throwaway TLS material for tests, made with the openssl CLI in a fresh temp dir:
// a CA, a server certificate for 127.0.0.1 / localhost signed by it, a client certificate signed by it,
// and a second, unrelated CA (for "wrong CA" tests).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface CertFiles {
  dir: string;
  /** CA certificate (PEM file) and key. */
  caCert: string;
  caKey: string;
  /** Server certificate (CN=localhost, SAN IP:127.0.0.1, DNS:localhost) signed by the CA, and its key. */
  serverCert: string;
  serverKey: string;
  /** Client certificate (CN=mote-test-client) signed by the CA, and its key. */
  clientCert: string;
  clientKey: string;
  /** An unrelated CA that signed nothing here. */
  otherCaCert: string;
  otherCaKey: string;
  /** Reads one of the files above as a PEM string. */
  pem(file: string): string;
  /** Removes the temp dir. */
  cleanup(): void;
}

export interface CertOptions {
  /** "rsa" (2048 bit, default) or "ec" (P-256, faster to generate). */
  keyType?: "rsa" | "ec";
  /** Validity in days (default 2). */
  days?: number;
  /** Directory to write into (default: a fresh temp dir). */
  dir?: string;
}

function opensslPath(): string {
  const candidates = [process.env.OPENSSL, "/usr/bin/openssl", "/usr/local/bin/openssl"];
  for (const c of candidates) {
    if (!c) continue;
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return c;
    } catch { /* next */ }
  }
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const p = path.join(dir, "openssl");
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  throw new Error("openssl not found: install it with `apt-get install openssl` (.ci/run does this)");
}

export function generateCerts(opts: CertOptions = {}): CertFiles {
  const openssl = opensslPath();
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "mote-certs-"));
  fs.mkdirSync(dir, { recursive: true });
  const days = String(opts.days ?? 2);
  const f = (name: string) => path.join(dir, name);
  const run = (args: string[]) => {
    try {
      execFileSync(openssl, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      const err = e as { stderr?: Buffer; message: string };
      throw new Error(`openssl ${args[0]} failed: ${err.stderr?.toString() || err.message}`);
    }
  };
  const newKey = (file: string) => {
    if (opts.keyType === "ec") run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file]);
    else run(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", file]);
  };
  const makeCa = (key: string, cert: string, cn: string) => {
    newKey(key);
    run([
      "req", "-x509", "-new", "-key", key, "-out", cert, "-days", days, "-sha256", "-subj", `/CN=${cn}`,
      "-addext", "basicConstraints=critical,CA:TRUE",
      "-addext", "keyUsage=critical,keyCertSign,cRLSign",
      "-addext", "subjectKeyIdentifier=hash",
    ]);
  };
  const makeLeaf = (name: string, cn: string, ext: string[]) => {
    const key = f(`${name}.key`);
    const csr = f(`${name}.csr`);
    const extFile = f(`${name}.ext`);
    newKey(key);
    run(["req", "-new", "-key", key, "-out", csr, "-subj", `/CN=${cn}`]);
    fs.writeFileSync(extFile, ext.join("\n") + "\n");
    run([
      "x509", "-req", "-in", csr, "-CA", f("ca.crt"), "-CAkey", f("ca.key"), "-CAcreateserial",
      "-out", f(`${name}.crt`), "-days", days, "-sha256", "-extfile", extFile,
    ]);
  };

  try {
    makeCa(f("ca.key"), f("ca.crt"), "mote test CA");
    makeLeaf("server", "localhost", [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ]);
    makeLeaf("client", "mote-test-client", [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=clientAuth",
    ]);
    makeCa(f("other-ca.key"), f("other-ca.crt"), "mote unrelated CA");
  } catch (e) {
    if (!opts.dir) fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  for (const k of ["ca.key", "server.key", "client.key", "other-ca.key"]) fs.chmodSync(f(k), 0o600);

  return {
    dir,
    caCert: f("ca.crt"),
    caKey: f("ca.key"),
    serverCert: f("server.crt"),
    serverKey: f("server.key"),
    clientCert: f("client.crt"),
    clientKey: f("client.key"),
    otherCaCert: f("other-ca.crt"),
    otherCaKey: f("other-ca.key"),
    pem: (file: string) => fs.readFileSync(file, "latin1"),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
