// Topic names and topic filters (MQTT 3.1.1 section 4.7).
import { toUtf8 } from "./utf8.js";

/**
 * Why `topic` is not a valid topic name (filter = false) or topic filter
 * (filter = true), or undefined when it is valid. Checks: not empty
 * [MQTT-4.7.3-1], encodable as UTF-8 without U+0000 [MQTT-4.7.3-2] and at most
 * 65535 bytes [MQTT-4.7.3-3], no wildcard in a name [MQTT-3.3.2-2], '#' alone,
 * in the last level [MQTT-4.7.1-2], '+' alone in its level [MQTT-4.7.1-3].
 */
export function topicError(topic: unknown, filter: boolean): string | undefined {
  if (typeof topic != "string" || !topic) return "topic must be a non-empty string";
  const bytes = toUtf8(topic);
  if (bytes == undefined || /\0/.test(topic)) return "topic is not valid UTF-8 text or holds U+0000";
  if (bytes.length > 65535) return "topic is longer than 65535 bytes";
  if (!filter) return /[+#]/.test(topic) ? "wildcards + and # are not allowed in a topic name" : undefined;
  const levels = topic.split("/");
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    if (/#/.test(level) && (level != "#" || i < levels.length - 1)) return "'#' must be alone in the last level";
    if (/\+/.test(level) && level != "+") return "'+' must be alone in its level";
  }
  return undefined;
}

/**
 * Does the topic name match the filter? Both must be valid. A leading
 * wildcard does not match topics starting with '$' [MQTT-4.7.2-1].
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (filter == topic) return true;
  if (topic.charAt(0) == "$" && /^[+#]/.test(filter)) return false;
  const f = filter.split("/"), t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] == "#") return true; // also matches the parent level: "a/#" matches "a"
    if (i >= t.length || (f[i] != "+" && f[i] != t[i])) return false;
  }
  return f.length == t.length;
}
