// Mosquitto (Debian `mosquitto`) for the interop suite: the shared test launcher (test/support/mosquitto.ts)
// with a password file and persistence, wrapped in the interop Broker interface.
import { execFileSync } from "node:child_process";
import { startMosquitto, mosquittoPath } from "../../support/mosquitto.js";
import { ACCESS, quirks, USER, type Broker } from "./common.js";

function version(): string {
  try {
    // `mosquitto -h` prints "mosquitto version 2.0.11" first (and exits 3).
    execFileSync(mosquittoPath(), ["-h"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const out = String((e as { stdout?: string }).stdout ?? "");
    const m = /version\s+(\S+)/.exec(out);
    if (m) return m[1];
  }
  return "?";
}

export async function startMosquittoBroker(): Promise<Broker> {
  const m = await startMosquitto({ passwordFile: { [USER.username]: USER.password }, persistence: true });
  return {
    id: "mosquitto",
    name: "Mosquitto",
    version: version(),
    host: m.host,
    port: m.port,
    url: m.url,
    ...ACCESS,
    quirks: quirks({
      subscribeRefusal: "none",
      subscribeRefusalNote: "Mosquitto's acl_file never refuses a SUBSCRIBE: a denied filter is granted and silently receives nothing, so no SUBACK 0x80 can be produced",
      sessionSurvivesRestart: true,
      silentDrop: { factor: 1.5, slackS: 6, note: "keep-alives are checked only every 5 s (whole seconds): a silent client is dropped, and its will published, between 1.5x keep-alive and 1.5x keep-alive + 6 s after its last packet" },
    }),
    restart: () => m.restart(),
    stop: () => m.stop(),
    logTail: (n = 20) => m.logs().split("\n").slice(-n - 1).join("\n"),
  };
}
