// Entry of firmware/mote-remote-ota.js: firmware transfer (loaded by mote-remote on ota_begin, released
// at the end of the transfer).
export { begin, handle } from "../device/remote-ota.js";
