// The "setup" part: the options given to create(), checked and turned into the client's fields
// and its CONNECT packet. Run once, from the Client constructor; a board then forgets it.
import type { Client, MqttError, Options, Server } from "./client.js";
import { encodeConnect } from "../protocol/codec.js";
import { topicError } from "../protocol/topic.js";
import { toUtf8 } from "../protocol/utf8.js";
import { toBytes } from "./bytes.js";

/** Sets the option fields of `c`; throws an Error with code "option" for options that cannot work. */
export function init(c: Client, o: Options): void {
  const fail = (msg: string): never => {
    const e = new Error(msg) as MqttError;
    e.code = "option";
    throw e;
  };
  const int = (v: unknown, dflt: number, min: number, max: number, name: string): number => {
    const n = v == undefined ? dflt : v as number;
    return typeof n == "number" && !(n % 1) && n >= min && n <= max ? n
      : fail(name + " must be an integer from " + min + " to " + max);
  };
  // MQTT strings are UTF-8 without U+0000 [MQTT-1.5.3-2].
  const text = (s: unknown, name: string): string => {
    const b = typeof s == "string" && !/\0/.test(s) ? toUtf8(s) : undefined;
    return b == undefined ? fail(name + " must be text without U+0000") : short(b, name);
  };
  // Every CONNECT field has a 16-bit length.
  const short = (b: string, name: string): string => b.length > 65535 ? fail(name + " is longer than 65535 bytes") : b;
  const l = o.servers, list: Server[] = [];
  if (l != undefined) {
    for (let i = 0; i < l.length; i++) {
      const h = l[i] && l[i].host;
      if (h && typeof h == "string") list.push({ host: h, port: int(l[i].port, 1883, 1, 65535, "servers port") });
    }
    if (!list.length || list.length != l.length) fail("servers must be a list of {host, port}");
    c._host = list[0].host;
    c._port = list[0].port as number;
    if (list.length > 1) { c._list = list; c._at = 0; }
  } else {
    c._host = o.host;
    c._port = int(o.port, 1883, 1, 65535, "port");
  }
  if (o.tls) c._tls = o.tls;
  const ka = int(o.keep_alive, 60, 1, 65535, "keep_alive (0 would switch keep-alive off)");
  c._ka = ka * 1000 | 0; // an integer: 1e3 would make it a double, a variable more
  const clean = o.clean_session !== false, id = text(o.client_id == undefined ? "" : o.client_id, "client_id");
  // A broker may assign an id only to a clean session [MQTT-3.1.3-7].
  if (!id && !clean) fail("clean_session:false needs a client_id");
  const name = o.protocol_name || (o.protocol_level == 3 ? "MQIsdp" : "MQTT"), w = o.will;
  if (w && topicError(w.topic, false)) fail("will.topic: " + topicError(w.topic, false));
  // A password without a user name cannot be sent [MQTT-3.1.2-22].
  if (o.password != undefined && o.username == undefined) fail("password needs a username");
  c._connect = encodeConnect({
    protocolName: name,
    protocolLevel: int(o.protocol_level, name == "MQIsdp" ? 3 : 4, 3, 4, "protocol_level"),
    clientId: id,
    keepAlive: ka,
    clean: clean,
    will: w ? {
      topic: toUtf8(w.topic) as string, message: short(toBytes(w.message), "will.message"),
      qos: int(w.qos, 0, 0, 2, "will.qos"), retain: !!w.retain,
    } : undefined,
    username: o.username == undefined ? undefined : text(o.username, "username"),
    password: o.password == undefined ? undefined : short(toBytes(o.password), "password"),
  });
  c._retry = o.reconnect === false ? 0 : 1;
  c._maxIn = int(o.inflight, 8, 1, 65535, "inflight");
  c._maxQ = int(o.queue, 8, 0, 65535, "queue");
  c._maxOut = int(o.write_buffer, 2048, 64, 1e9, "write_buffer");
  c._max = int(o.max_packet, 1024, 16, 268435460, "max_packet");
}
