// Aedes (npm, in-process) for the interop suite: the shared test launcher (test/support/aedes.ts) with
// users and a subscribe hook that refuses "forbidden/#", wrapped in the interop Broker interface.
// restart() closes the broker and starts a new one on the same port: Aedes keeps sessions and retained
// messages in memory (its default persistence), so they do not survive it.
import fs from "node:fs";
import { createRequire } from "node:module";
import { startAedes, type AedesInstance } from "../../support/aedes.js";
import { ACCESS, onAbort, quirks, USER, type Broker } from "./common.js";

function version(): string {
  try {
    const req = createRequire(import.meta.url);
    const file = req.resolve("aedes/package.json");
    return JSON.parse(fs.readFileSync(file, "utf8")).version as string;
  } catch {
    return "?";
  }
}

export async function startAedesBroker(): Promise<Broker> {
  const start = (port?: number) => startAedes({
    users: { [USER.username]: USER.password },
    refuseSubscribe: (filter) => filter === "forbidden" || filter.startsWith("forbidden/"),
    port,
  });
  let a: AedesInstance = await start();
  const port = a.port;
  const log: string[] = [];
  const unhook = onAbort(() => { void a.stop(); });
  let stopped = false;
  return {
    id: "aedes",
    name: "Aedes",
    version: version(),
    host: a.host,
    port,
    url: a.url,
    ...ACCESS,
    quirks: quirks({ sessionSurvivesRestart: false }),
    async restart() {
      await a.stop();
      log.push(`${new Date().toISOString()} restarted on port ${port}`);
      a = await start(port);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await a.stop();
      unhook();
    },
    logTail: () => log.join("\n") || "(in-process: no log)",
  };
}
