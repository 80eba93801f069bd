// Entry of firmware/mote-mqtt-pub.js, a cold part of the client (publishes that are not the common case), required
// from Storage by the client when needed (src/session/parts.ts).
export * from "../session/pub.js";
