// Entry of firmware/mote-mqtt.js, an Espruino module and a drop-in for
// Espruino's "MQTT" module: require("mote-mqtt").create(server, options).
import { Client, Options } from "../session/client.js";
import { platform } from "../platform/net.js";

declare function getSerial(): string;

/** A client for `server`; call connect() on it. client_id defaults to the board's serial. */
export function create(server: string, options?: Partial<Options>): Client {
  const o = Object.assign({}, options, { host: server }) as Options;
  if (o.client_id == undefined) o.client_id = "mote-" + getSerial();
  return new Client(platform, o);
}

/** create(options.host, options) and connect. */
export function connect(options: Options): Client {
  return create(options.host, options).connect();
}
