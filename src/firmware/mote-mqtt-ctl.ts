// Entry of firmware/mote-mqtt-ctl.js, a cold part of the client (CONNACK, QoS 2 handshakes and every unusual inbound packet), required
// from Storage by the client when needed (src/session/parts.ts).
export * from "../session/ctl.js";
