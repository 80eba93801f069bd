// Shared by the end-to-end tests of the `mote` command: one Mosquitto and a watcher on <prefix>/# per
// test file, the CLI run as a child process with its own key store (XDG_CONFIG_HOME in a temporary
// folder), and simulated ESP32s flashed as flash.sh --remote does (src/host/flash-layout.ts: boot guard,
// runtime, client parts, mote-info, the remote modules, mote.json with remote.key, the board file),
// each board's key in that key store.
import { before, after } from "node:test";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import { SimBoard, flashLayout, writeLayout } from "../../../src/host/index.js";
import { startMosquitto, type MosquittoInstance } from "../../support/mosquitto.js";
import { waitFor, mqttjsClient, endClient } from "../../support/util.js";
import { ROOT } from "../../../src/tools/config-check.js";
import { parseInfo, type Info } from "../../../src/tools/mote/protocol.js";
import { generateKey, saveKey } from "../../../src/tools/mote/keys.js";

/** `confirm`: the seconds a board on a new config or bundle has to get online before it goes back. */
export function cliSuite(prefix: string, confirm: number) {
  let broker: MosquittoInstance, watcher: MqttClient, dir = "", xdg = "", seq = 0;
  const boards: SimBoard[] = [];
  const infos = new Map<string, Info>(); // base -> last info seen
  const seen: { topic: string; text: string }[] = [];

  before(async () => {
    broker = await startMosquitto();
    watcher = await mqttjsClient(broker.url);
    watcher.on("message", (t, m) => {
      seen.push({ topic: t, text: m.toString() });
      if (t.endsWith("/info")) { const i = parseInfo(m); if (i) infos.set(t.slice(0, -5), i); }
    });
    await watcher.subscribeAsync(prefix + "/#", { qos: 1 });
    dir = mkdtempSync(join(tmpdir(), `mote-${prefix}-`));
    xdg = join(dir, "xdg");
  });
  after(async () => {
    for (const b of boards) b.close();
    await endClient(watcher);
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** `mote ARGS --broker <this broker>`: its exit code and output. */
  function mote(args: string[]) {
    return new Promise<{ code: number; out: string; err: string }>((resolve) => {
      execFile(process.execPath, [join(ROOT, "bin/mote.js"), ...args, "--broker", broker.url],
        { env: { ...process.env, XDG_CONFIG_HOME: xdg }, timeout: 90000 },
        (e, out, err) => resolve({ code: e ? (typeof e.code == "number" ? e.code : -1) : 0, out, err }));
    });
  }

  /** A board (client id <prefix>-<n>, base <prefix>/<n>, `extra` merged into its config), booted and its info in. */
  async function flashedBoard(extra: Record<string, unknown> = {}) {
    const n = ++seq, id = `${prefix}-${n}`, base = `${prefix}/${n}`, key = generateKey();
    const cfg = {
      wifi: { ssid: "mote-sim", password: "wifi-secret" },
      mqtt: { host: "127.0.0.1", port: broker.port, client_id: id, keep_alive: 5 },
      base, remote: { key, confirm }, ...extra,
    };
    const board = new SimBoard({ board: "esp32-devkitc", serial: `sim-${id}` });
    boards.push(board);
    writeLayout(board, flashLayout("esp32-devkitc", cfg));
    saveKey(id, key, { XDG_CONFIG_HOME: xdg });
    board.boot();
    await waitFor(() => infos.get(base)?.id == id, 10000, () => `${id}'s info on ${base}/info; board log:\n${board.logs.slice(-20).join("\n")}`);
    return { board, id, base, cfg, key };
  }

  return {
    mote, flashedBoard, infos, seen,
    get broker() { return broker; },
    /** The test file's temporary folder (made before its tests). */
    get dir() { return dir; },
  };
}
