// The board side of src/session/parts.ts (rollup.config.js puts this file in its place in every
// board bundle): a cold part of the client is the Storage module "mote-mqtt-<name>"
// (firmware/mote-mqtt-<name>.js, uploaded beside the client by flash.sh), required when first
// needed. Unless `keep` is set it is dropped from the module cache right after (the caller holds
// it for the call), so its functions cost variables only while they run.
declare function require(module: string): any;
declare const Modules: { removeCached(name: string): void };

export function part(name: string, keep?: number): any {
  const id = "mote-mqtt-" + name, p = require(id);
  if (!keep) Modules.removeCached(id);
  return p;
}
