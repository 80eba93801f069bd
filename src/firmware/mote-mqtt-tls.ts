// Entry of firmware/mote-mqtt-tls.js, a cold part of the client (a TLS connection set up), required
// from Storage by src/platform/net.ts when a client is given `tls`.
export * from "../platform/tls.js";
