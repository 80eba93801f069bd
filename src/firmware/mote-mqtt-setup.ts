// Entry of firmware/mote-mqtt-setup.js, a cold part of the client (options checked and CONNECT built, once at create), required
// from Storage by the client when needed (src/session/parts.ts).
export * from "../session/setup.js";
