// Entry of firmware/mote-mqtt-match.js, a cold part of the client (calls subscription handlers),
// required from Storage by the client once a subscription has a handler (src/session/parts.ts).
export * from "../session/match.js";
