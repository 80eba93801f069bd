// Entry of firmware/mote-mqtt-close.js, a cold part of the client (the refused-request logic when the broker closes a connection), required
// from Storage by the client when needed (src/session/parts.ts).
export * from "../session/close.js";
