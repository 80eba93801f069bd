// What flash.sh puts in a board's Storage, for the simulator: one list, used by every test and tool that
// boots a board as a user's would be (remote-management tests, mote config/ota end-to-end tests, npm run
// fleet). Keep it in step with flash.sh's "What goes into Storage" (docs/remote-protocol.md, "Storage
// layout and boot guard").
import fs from "node:fs";
import path from "node:path";
import { clientParts, firmwareDir, type SimBoard } from "./simulator.js";
import { compactBoard } from "../device/config.js";
import { loadBoard } from "../tools/config-check.js";

/**
 * Storage files (name -> binary string) for board `boardId` running config `cfg`: the boot guard
 * (.bootcde) and the runtime in slot a (mote.a), the MQTT client's parts (no TLS part on a board without
 * TLS), mote-info, the feature modules the config uses, mote.json and mote.board; `user`: the user's code
 * (mote-user.js, with mote-script).
 */
export function flashLayout(boardId: string, cfg: any, o: { user?: string; dir?: string } = {}): Record<string, string> {
  const dir = o.dir ?? firmwareDir(), spec = loadBoard(boardId);
  const fw = (name: string) => fs.readFileSync(path.join(dir, name + ".js"), "latin1");
  const files: Record<string, string> = { ".bootcde": fw("boot"), "mote.a": fw("mote") };
  for (const p of clientParts(dir)) if (p.name != "mote-mqtt-tls" || spec.tls) files[p.name] = fs.readFileSync(p.file, "latin1");
  const feats = ["mote-info"];
  if (cfg.diag_every !== 0) feats.push("mote-diag");
  if (cfg.homeassistant) feats.push("mote-ha", "mote-ha-announce");
  if (cfg.sleep) feats.push("mote-sleep");
  if (cfg.remote) feats.push("mote-remote", "mote-remote-cmd", "mote-remote-cfg", "mote-remote-ota", "mote-remote-files", "mote-swap");
  if (o.user !== undefined) feats.push("mote-script");
  for (const f of feats) files[f] = fw(f);
  if (o.user !== undefined) files["mote-user.js"] = o.user;
  files["mote.json"] = JSON.stringify(cfg);
  files["mote.board"] = JSON.stringify(compactBoard(spec));
  return files;
}

/**
 * Writes `files` (a flashLayout()) into a simulated board's Storage: the firmware files as their bytes,
 * the user's mote-user.js as text (writeText: UTF-8 where the simulator has Unicode strings, its bytes
 * where it has byte strings, as the user's editor saved it).
 */
export function writeLayout(board: SimBoard, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    if (name == "mote-user.js") board.storage.writeText(name, text);
    else board.storage.write(name, Buffer.from(text, "latin1"));
  }
}
