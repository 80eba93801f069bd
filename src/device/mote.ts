// The device's shared state, passed to every device module. Its own module so that the device
// layer reads top-down: runtime.ts builds it, the others only use it.
import type { Client } from "../session/client.js";

export interface Mote {
  c: any;            // the config, defaults applied
  base: string;      // c.base
  errors: string[];  // what validateConfig found
  bad: string;       // errors joined: sensors[i] / actuators[i] named there are skipped
  client: Client;
  up: number;        // 1 while MQTT is connected, else 0 (an integer: 1 variable on the board, a boolean 2)
  t0: number;        // getTime() at start
  w?: any;           // the Wifi module, on boards that have one
  log(msg: string): void;
  stop(): void;      // publish "offline" and disconnect
  v: string;         // firmware version (version.ts): <base>/info's fw, Home Assistant's sw
  /** The boot guard's state (firmware/boot.ts): {r boot reason, w why, s slot, ok()}; undefined without it. */
  g?: any;
  /** Loaded feature modules by name ("ha", "remote", ...): see feature() in runtime.ts. */
  f?: any;
  /** Reads one sensor now (sensors.ts's read): mote-sleep reads each once per wake, mote-script starts user sensors. */
  rd?: any;
  /** mote-sleep: {publish(topic, payload, {qos, retain})} storing readings taken while not connected. */
  q?: any;
  /** mote-sleep: this start is a wake from deep sleep (the broker kept the session and the retained states). */
  wk?: boolean;
  /** mote-script adds the user API here (publish, subscribe, sensor, actuator, every, after). */
  [api: string]: any;
}
