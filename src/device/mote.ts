// The device's shared state, passed to every device module. Its own module so that the device
// layer reads top-down: runtime.ts builds it, the others only use it.
import type { Client } from "../session/client.js";

export interface Mote {
  c: any;            // the config, defaults applied
  base: string;      // c.base
  errors: string[];  // what validateConfig found
  bad: string;       // errors joined: sensors[i] / actuators[i] named there are skipped
  client: Client;
  up: boolean;       // MQTT connected
  t0: number;        // getTime() at start
  w?: any;           // the Wifi module, on boards that have one
  log(msg: string): void;
  stop(): void;      // publish "offline" and disconnect
  v: string;         // firmware version (version.ts), for <base>/info
  /** The boot guard's state (firmware/boot.ts): {r boot reason, w why, s slot, ok()}; undefined without it. */
  g?: any;
  /** Loaded feature modules by name ("ha", "remote", ...): see feature() in runtime.ts. */
  f?: any;
}
