// Home Assistant's MQTT discovery as the tests check it: the documented schema (keys per platform,
// required keys, topic and id rules) and a consumer that reads discovery the way Home Assistant does.
//
// Sources (read, not copied; the tables below are written from them):
//   HAdoc  https://www.home-assistant.io/integrations/mqtt/ (discovery topic, device discovery, "Supported
//          abbreviations in MQTT discovery messages", "Using abbreviations and base topic", birth message)
//   and the platform pages: sensor.mqtt, binary_sensor.mqtt, switch.mqtt, number.mqtt, button.mqtt,
//   update.mqtt (their "Configuration Variables"), and device_trigger.mqtt (automation_type, topic, type,
//   subtype, payload; HAcore device_trigger.py TRIGGER_DISCOVERY_SCHEMA removes other keys, such as the
//   availability a device config's components inherit).
//   HAcore home-assistant/core homeassistant/components/mqtt/discovery.py (dev, 2026): TOPIC_MATCHER
//          ([a-zA-Z0-9_-] node and object ids), abbreviations expanded before validation, `~` replaced at
//          the start or end of values whose key ends in "topic" and of availability[].topic, device
//          discovery: each cmps entry is one component config with dev, o and the SHARED_OPTIONS of
//          the root (availability*, command_topic, encoding, payload_(not_)available, state_topic, qos)
//          merged in where the component does not set them; a component with only "p" is a removal;
//          an empty payload removes; only components discovered since Home Assistant started can be
//          removed (discovery_already_discovered).
//   /work/shared/device-firmware-anchors.md section 1 (DEVICE_DISCOVERY_SCHEMA: dev needs ids or cns,
//          o needs name, every cmps entry needs p, entity components need uniq_id).
import type { MqttClient } from "mqtt";
import { mqttjsClient } from "./util.js";

/** Abbreviation -> full key (the subset of HAdoc's table for the platforms mote announces, plus the
 *  common keys). A key not here and not a full key of the platform is unknown. */
export const ABBREVIATIONS: Record<string, string> = {
  avty: "availability", avty_mode: "availability_mode", avty_t: "availability_topic", avty_tpl: "availability_template",
  pl_avail: "payload_available", pl_not_avail: "payload_not_available", t: "topic",
  cmd_t: "command_topic", cmd_tpl: "command_template", stat_t: "state_topic", val_tpl: "value_template",
  dev: "device", o: "origin", p: "platform", cmps: "components", e: "encoding", en: "enabled_by_default",
  ent_cat: "entity_category", ent_pic: "entity_picture", ic: "icon", json_attr_t: "json_attributes_topic",
  json_attr_tpl: "json_attributes_template", obj_id: "object_id", def_ent_id: "default_entity_id", uniq_id: "unique_id",
  ret: "retain", dev_cla: "device_class", stat_cla: "state_class", unit_of_meas: "unit_of_measurement",
  exp_aft: "expire_after", frc_upd: "force_update", sug_dsp_prc: "suggested_display_precision",
  lrst_val_tpl: "last_reset_value_template", ops: "options",
  pl_on: "payload_on", pl_off: "payload_off", off_dly: "off_delay", stat_on: "state_on", stat_off: "state_off",
  opt: "optimistic", pl_prs: "payload_press", pl_rst: "payload_reset",
  l_ver_t: "latest_version_topic", l_ver_tpl: "latest_version_template", pl_inst: "payload_install",
  rel_s: "release_summary", rel_u: "release_url", tit: "title", dsp_prc: "display_precision",
};
export const DEVICE_ABBREVIATIONS: Record<string, string> = {
  ids: "identifiers", cns: "connections", name: "name", mf: "manufacturer", mdl: "model", mdl_id: "model_id",
  hw: "hw_version", sw: "sw_version", sn: "serial_number", sa: "suggested_area", cu: "configuration_url", via_device: "via_device",
};
export const ORIGIN_ABBREVIATIONS: Record<string, string> = { name: "name", sw: "sw_version", url: "support_url" };

const COMMON = ["platform", "availability", "availability_mode", "availability_template", "availability_topic",
  "payload_available", "payload_not_available", "device", "origin", "enabled_by_default", "entity_category",
  "entity_picture", "icon", "json_attributes_topic", "json_attributes_template", "name", "object_id",
  "default_entity_id", "unique_id", "qos", "encoding"];
/** Full keys per platform (beyond COMMON) and the required ones, from each platform's page. */
export const PLATFORMS: Record<string, { keys: string[]; required: string[] }> = {
  sensor: { keys: ["state_topic", "device_class", "state_class", "unit_of_measurement", "value_template", "expire_after",
    "force_update", "last_reset_value_template", "suggested_display_precision", "options"], required: ["state_topic"] },
  binary_sensor: { keys: ["state_topic", "device_class", "expire_after", "force_update", "off_delay", "payload_on",
    "payload_off", "value_template"], required: ["state_topic"] },
  switch: { keys: ["command_topic", "command_template", "state_topic", "state_on", "state_off", "payload_on",
    "payload_off", "optimistic", "retain", "device_class", "value_template"], required: ["command_topic"] },
  number: { keys: ["command_topic", "command_template", "state_topic", "min", "max", "step", "mode", "device_class",
    "unit_of_measurement", "optimistic", "retain", "payload_reset", "value_template"], required: ["command_topic"] },
  button: { keys: ["command_topic", "command_template", "payload_press", "device_class", "retain"], required: ["command_topic"] },
  update: { keys: ["state_topic", "command_topic", "latest_version_topic", "latest_version_template", "payload_install",
    "release_summary", "release_url", "title", "display_precision", "device_class", "value_template", "retain"], required: [] },
  device_automation: { keys: ["automation_type", "topic", "type", "subtype", "payload", "value_template"],
    required: ["automation_type", "topic", "type", "subtype"] },
};
/** Root options of a device config that its components inherit (HAcore SHARED_OPTIONS). */
export const SHARED_OPTIONS = ["availability", "availability_mode", "availability_template", "availability_topic",
  "command_topic", "encoding", "payload_available", "payload_not_available", "state_topic", "qos"];
/** Units Home Assistant accepts for the device classes mote uses (sensor page / SensorDeviceClass). */
export const UNITS: Record<string, string[]> = {
  temperature: ["°C", "°F", "K"], humidity: ["%"], pressure: ["hPa", "Pa", "kPa", "bar", "mbar", "psi", "inHg", "mmHg"],
  duration: ["s", "min", "h", "d", "ms"], signal_strength: ["dBm", "dB"],
};
export const ID = /^[a-zA-Z0-9_-]+$/;

function expandKeys(o: any, table: Record<string, string>, where: string, errs: string[], known?: Set<string>): any {
  const r: any = {};
  for (const k of Object.keys(o)) {
    const full = table[k] ?? k;
    if (known && !known.has(full) && k != "~") errs.push(`${where}: unknown key ${k}`);
    if (full in r) errs.push(`${where}: ${k} given twice`);
    r[full] = o[k];
  }
  return r;
}

/** `~` replaced at the start or end of *topic values and availability[].topic (HAcore). */
function replaceBase(c: any): any {
  if (!("~" in c)) return c;
  const base = c["~"];
  delete c["~"];
  const sub = (v: string) => (v.startsWith("~") ? base + v.slice(1) : v.endsWith("~") ? v.slice(0, -1) + base : v);
  for (const k of Object.keys(c)) if (k.endsWith("topic") && typeof c[k] == "string") c[k] = sub(c[k]);
  for (const a of c.availability ?? []) if (typeof a.topic == "string") a.topic = sub(a.topic);
  return c;
}

export interface Component {
  platform: string;
  /** Home Assistant's discovery id: "<node> <object>" (per-entity) or "<device object> <component id>". */
  hash: string;
  /** Expanded config; {} for a removal. */
  config: any;
}

/**
 * Checks one discovery message against the documented schema and expands it as Home Assistant does.
 * Returns the components it carries (a removal has an empty config) and every rule it breaks.
 */
export function readDiscovery(prefix: string, topic: string, payload: string): { components: Component[]; errors: string[] } {
  const errors: string[] = [];
  const components: Component[] = [];
  const rest = topic.startsWith(prefix + "/") ? topic.slice(prefix.length + 1) : "";
  const m = /^(\w+)\/(?:([^/]+)\/)?([^/]+)\/config$/.exec(rest);
  if (!m) return { components, errors: [`${topic}: not a discovery topic`] };
  const [, component, node, object] = m;
  if (node !== undefined && !ID.test(node)) errors.push(`${topic}: node id ${node} outside [a-zA-Z0-9_-]`);
  if (!ID.test(object)) errors.push(`${topic}: object id ${object} outside [a-zA-Z0-9_-]`);
  if (component != "device" && !PLATFORMS[component]) errors.push(`${topic}: platform ${component} not one mote announces`);
  const id = node ? `${node} ${object}` : object;
  if (payload === "") {
    if (component != "device") components.push({ platform: component, hash: id, config: {} });
    return { components, errors };
  }
  let raw: any;
  try { raw = JSON.parse(payload); } catch (e) { return { components, errors: [`${topic}: not JSON: ${(e as Error).message}`] }; }
  if (component == "device") {
    const root = expandKeys(raw, ABBREVIATIONS, topic, errors, new Set([...SHARED_OPTIONS, "device", "origin", "components"]));
    const dev = checkDevice(root.device, topic, errors);
    if (!root.origin || typeof root.origin != "object") errors.push(`${topic}: origin (o) required`);
    else {
      root.origin = expandKeys(root.origin, ORIGIN_ABBREVIATIONS, `${topic} o`, errors, new Set(Object.values(ORIGIN_ABBREVIATIONS)));
      if (typeof root.origin.name != "string" || !root.origin.name) errors.push(`${topic}: o.name required`);
    }
    const cmps = root.components;
    if (!cmps || typeof cmps != "object") { errors.push(`${topic}: cmps required`); return { components, errors }; }
    for (const cid of Object.keys(cmps)) {
      const where = `${topic} cmps.${cid}`;
      if (!ID.test(cid)) errors.push(`${where}: component id outside [a-zA-Z0-9_-]`);
      const c = cmps[cid];
      const platform = c.p ?? c.platform;
      if (!PLATFORMS[platform]) { errors.push(`${where}: p ${platform} missing or not a known platform`); continue; }
      const hash = node ? `${object} ${node} ${cid}` : `${object} ${cid}`;
      if (Object.keys(c).length == 1) { components.push({ platform, hash, config: {} }); continue; }
      const known = new Set([...COMMON, ...PLATFORMS[platform].keys]);
      const conf = expandKeys(c, ABBREVIATIONS, where, errors, known);
      // Inherited root options: those the platform does not know are dropped (its schema removes extras).
      for (const k of SHARED_OPTIONS) if (k in root && !(k in conf) && known.has(k)) conf[k] = structuredClone(root[k]);
      conf.device = dev; conf.origin = root.origin;
      components.push({ platform, hash, config: checkEntity(replaceBase(conf), platform, where, errors) });
    }
  } else if (PLATFORMS[component]) {
    const where = topic;
    const known = new Set([...COMMON, ...PLATFORMS[component].keys]);
    const conf = expandKeys(raw, ABBREVIATIONS, where, errors, known);
    if (conf.device) conf.device = checkDevice(conf.device, where, errors);
    else errors.push(`${where}: dev required (mote groups its entities in one device)`);
    if (conf.origin) {
      conf.origin = expandKeys(conf.origin, ORIGIN_ABBREVIATIONS, `${where} o`, errors, new Set(Object.values(ORIGIN_ABBREVIATIONS)));
      if (!conf.origin.name) errors.push(`${where}: o.name required`);
    }
    components.push({ platform: component, hash: id, config: checkEntity(replaceBase(conf), component, where, errors) });
  }
  return { components, errors };
}

function checkDevice(d: any, where: string, errors: string[]): any {
  if (!d || typeof d != "object") { errors.push(`${where}: dev required`); return {}; }
  const dev = expandKeys(d, DEVICE_ABBREVIATIONS, `${where} dev`, errors, new Set(Object.values(DEVICE_ABBREVIATIONS)));
  const ids = dev.identifiers;
  if (!(Array.isArray(ids) ? ids.length : ids) && !dev.connections) errors.push(`${where}: dev.ids or dev.cns required`);
  return dev;
}

const TOPIC_KEYS = ["state_topic", "command_topic", "availability_topic", "json_attributes_topic", "latest_version_topic"];

function checkEntity(c: any, platform: string, where: string, errors: string[]): any {
  for (const k of PLATFORMS[platform].required) if (typeof c[k] != "string" || !c[k]) errors.push(`${where}: ${k} required`);
  if (typeof c.unique_id != "string" || !ID.test(c.unique_id)) errors.push(`${where}: uniq_id required, of [a-zA-Z0-9_-]`);
  for (const k of TOPIC_KEYS) if (k in c && (typeof c[k] != "string" || /[+#]/.test(c[k]) || !c[k])) errors.push(`${where}: ${k} not a topic`);
  if ("availability" in c && "availability_topic" in c) errors.push(`${where}: avty and avty_t are exclusive`);
  if (c.entity_category !== undefined && !["config", "diagnostic"].includes(c.entity_category)) errors.push(`${where}: ent_cat ${c.entity_category}`);
  if (platform == "sensor" && c.entity_category == "config") errors.push(`${where}: a sensor cannot be ent_cat config`);
  if (c.device_class && UNITS[c.device_class] && platform == "sensor" && !UNITS[c.device_class].includes(c.unit_of_measurement))
    errors.push(`${where}: unit ${c.unit_of_measurement} not valid for device class ${c.device_class}`);
  if (c.state_class !== undefined && !["measurement", "total", "total_increasing", "measurement_angle"].includes(c.state_class))
    errors.push(`${where}: stat_cla ${c.state_class}`);
  if (c.expire_after !== undefined && !(Number.isInteger(c.expire_after) && c.expire_after > 0)) errors.push(`${where}: exp_aft must be a positive integer`);
  if (platform == "number") {
    if (c.mode !== undefined && !["auto", "box", "slider"].includes(c.mode)) errors.push(`${where}: mode ${c.mode}`);
    if (!(typeof c.min == "number" && typeof c.max == "number" && c.min < c.max)) errors.push(`${where}: min < max required`);
  }
  if (platform == "device_automation") {
    if (c.automation_type != "trigger") errors.push(`${where}: automation_type must be trigger`);
    if (/[+#]/.test(c.topic ?? "")) errors.push(`${where}: topic not a topic`);
    // Not an entity: no name (the frontend names a trigger by its subtype and type).
    if ("name" in c) errors.push(`${where}: a device trigger has no name`);
  }
  if (platform == "button" && c.device_class && !["identify", "restart", "update"].includes(c.device_class)) errors.push(`${where}: button dev_cla ${c.device_class}`);
  for (const k of ["value_template", "availability_template", "latest_version_template"]) {
    if (k in c && templateError(c[k])) errors.push(`${where}: ${k} ${JSON.stringify(c[k])}: ${templateError(c[k])}`);
  }
  return c;
}

/** The availability template mote uses: only "offline" is unavailable. */
export const AVAILABILITY_TEMPLATE = "{{ 'offline' if value == 'offline' else 'online' }}";

function templateError(t: string): string {
  if (t == AVAILABILITY_TEMPLATE) return "";
  return /^\{\{ value_json\.[a-z_]+ \}\}$/.test(t) ? "" : "not of the form {{ value_json.x }}";
}

/** A tiny template evaluator for the two forms mote declares (anything else throws). */
export function render(t: string, value: string): string {
  if (t == AVAILABILITY_TEMPLATE) return value == "offline" ? "offline" : "online";
  const m = /^\{\{ value_json\.([a-z_]+) \}\}$/.exec(t);
  if (!m) throw new Error(`template ${t} not understood`);
  const v = JSON.parse(value)[m[1]];
  return v === undefined || v === null ? "None" : String(v);
}

export interface Entity {
  platform: string;
  hash: string;
  config: any;
  /** The state as Home Assistant would show it: "on"/"off", a number as text, a version, or undefined. */
  state?: string;
  /** Payloads on the state topic that matched nothing declared. */
  bad: string[];
  available: boolean;
  /** A device trigger: how many times it fired (a message on its topic with its payload). */
  fired: number;
}

/**
 * A Home Assistant stand-in over mqtt.js: subscribes to discovery as Home Assistant does
 * (<prefix>/<platform>/+/config, /+/+/config, <prefix>/device/+/config), then publishes its birth.
 * `registry` (unique_id -> hash) outlives stop()/start() like Home Assistant's entity registry;
 * `entities` (what was discovered since start) does not. An entity leaves the registry only when
 * removed while discovered, as in Home Assistant. `devices` (first identifier -> device info) is the
 * device registry: each discovered config's dev updates the keys it gives and keeps the others (HAcore
 * mqtt entity.py, device_info_from_specifications: only the keys present), so a per-entity config may
 * name its device by its ids alone once another gave the rest; `origins` likewise, per device.
 */
export class FakeHomeAssistant {
  client?: MqttClient;
  entities = new Map<string, Entity>();
  registry = new Map<string, string>();
  devices = new Map<string, any>();
  origins = new Map<string, any>();
  errors: string[] = [];
  discoveries = 0;
  private subs = new Map<string, Set<string>>();
  constructor(readonly url: string, readonly prefix = "homeassistant") {}

  async start(birth = true): Promise<void> {
    this.entities.clear();
    this.subs.clear();
    const c = this.client = await mqttjsClient(this.url);
    c.on("message", (topic, payload) => this.message(topic, payload.toString("utf8")));
    const filters = Object.keys(PLATFORMS).flatMap((p) => [`${this.prefix}/${p}/+/config`, `${this.prefix}/${p}/+/+/config`]);
    filters.push(`${this.prefix}/device/+/config`, `${this.prefix}/device/+/+/config`);
    await c.subscribeAsync(filters, { qos: 0 });
    if (birth) await c.publishAsync(`${this.prefix}/status`, "online", { qos: 0, retain: false });
  }

  async stop(): Promise<void> {
    await this.client?.endAsync();
    this.client = undefined;
  }

  /** Unique ids in the registry whose entity is not discovered now: ghosts. */
  ghosts(): string[] {
    const live = new Set([...this.entities.values()].map((e) => e.config.unique_id));
    return [...this.registry.keys()].filter((u) => !live.has(u));
  }

  private message(topic: string, payload: string): void {
    if (topic.startsWith(this.prefix + "/")) { this.discovery(topic, payload); return; }
    for (const key of this.subs.get(topic) ?? []) {
      const e = this.entities.get(key);
      if (e) this.state(e, topic, payload);
    }
  }

  private discovery(topic: string, payload: string): void {
    this.discoveries++;
    const { components, errors } = readDiscovery(this.prefix, topic, payload);
    this.errors.push(...errors);
    for (const c of components) {
      const key = `${c.platform} ${c.hash}`;
      const had = this.entities.get(key);
      if (!Object.keys(c.config).length) {
        if (had) {
          this.entities.delete(key);
          this.registry.delete(had.config.unique_id);
        }
        continue;
      }
      const e: Entity = { platform: c.platform, hash: c.hash, config: c.config, bad: [], available: had?.available ?? false,
        state: had?.state, fired: had?.fired ?? 0 };
      this.entities.set(key, e);
      if (c.config.unique_id) this.registry.set(c.config.unique_id, key);
      const id = c.config.device?.identifiers?.[0];
      if (id !== undefined) {
        this.devices.set(id, { ...this.devices.get(id), ...c.config.device });
        if (c.config.origin) this.origins.set(id, { ...this.origins.get(id), ...c.config.origin });
      }
      for (const t of [c.config.state_topic, c.config.availability_topic, c.config.topic]) {
        if (!t) continue;
        if (!this.subs.has(t)) this.subs.set(t, new Set());
        this.subs.get(t)!.add(key);
        // Each entity subscribes for itself, as in Home Assistant: the broker sends the retained
        // message again (MQTT 3.1.1, 3.8.4), so every entity sees the retained state and status.
        this.client!.subscribe(t, { qos: 0 });
      }
    }
  }

  private state(e: Entity, topic: string, payload: string): void {
    const c = e.config;
    if (topic == c.availability_topic) {
      const v = c.availability_template ? render(c.availability_template, payload) : payload;
      if (v == (c.payload_available ?? "online")) e.available = true;
      else if (v == (c.payload_not_available ?? "offline")) e.available = false;
    }
    if (e.platform == "device_automation") {
      if (topic == c.topic && (c.payload === undefined || payload == c.payload)) e.fired++;
      return;
    }
    if (topic != c.state_topic) return;
    const v = c.value_template ? render(c.value_template, payload) : payload;
    if (e.platform == "binary_sensor" || e.platform == "switch") {
      const on = e.platform == "switch" ? c.state_on ?? c.payload_on ?? "ON" : c.payload_on ?? "ON";
      const off = e.platform == "switch" ? c.state_off ?? c.payload_off ?? "OFF" : c.payload_off ?? "OFF";
      if (v == on) e.state = "on"; else if (v == off) e.state = "off"; else e.bad.push(payload);
    } else if (e.platform == "number") {
      const n = Number(v);
      if (v.trim() !== "" && Number.isFinite(n) && n >= c.min && n <= c.max) e.state = String(n); else e.bad.push(payload);
    } else if (e.platform == "sensor" && (c.device_class || c.state_class || c.unit_of_measurement)) {
      // A numeric sensor: Home Assistant refuses a state that is not a number.
      if (v.trim() !== "" && Number.isFinite(Number(v))) e.state = v; else e.bad.push(payload);
    } else e.state = v;
  }

  /** The entity with this unique id suffix (after "<node>_"). */
  entity(node: string, key: string): Entity | undefined {
    return [...this.entities.values()].find((e) => e.config.unique_id == `${node}_${key}`);
  }

  async command(e: Entity, payload: string): Promise<void> {
    await this.client!.publishAsync(e.config.command_topic, payload, { qos: 0 });
  }
}
