// Entry of firmware/mote-ha.js, Home Assistant discovery (loaded by runtime.ts when mote.json has
// "homeassistant").
export { startHa as start } from "../device/ha.js";
