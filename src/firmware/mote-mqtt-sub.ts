// Entry of firmware/mote-mqtt-sub.js, a cold part of the client (subscribe/unsubscribe and their acks), required
// from Storage by the client when needed (src/session/parts.ts).
export * from "../session/sub.js";
