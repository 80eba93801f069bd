// A real browser for page tests: Debian's chromium (/usr/bin/chromium, `.ci/run` installs it) driven by
// playwright-core, which never downloads a browser of its own. Each launch gets a fresh profile dir,
// removed on close. Where chromium is missing the tests skip, except under CI (CI=true), where they fail.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type BrowserContext } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

/** Why page tests cannot run here (undefined: they can). Throws under CI: there a missing browser fails. */
export function browserMissing(): string | undefined {
  if (fs.existsSync(CHROMIUM)) return undefined;
  const why = `${CHROMIUM} is missing (Debian package chromium)`;
  if (process.env.CI) throw new Error(why + ": under CI the browser tests must run");
  return why;
}

export interface Browser { context: BrowserContext; close(): Promise<void> }

export async function launchBrowser(viewport = { width: 1300, height: 800 }): Promise<Browser> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "mote-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, viewport,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--no-first-run"], // the fresh profile is the --user-data-dir (playwright passes it)
  });
  return {
    context,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}
