// Entry of firmware/mote-ha-announce.js: one Home Assistant announce round, required by mote-ha for
// the round and released after it.
export { announce } from "../device/ha-announce.js";
