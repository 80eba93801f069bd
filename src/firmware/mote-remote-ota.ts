// Entry of firmware/mote-remote-ota.js: firmware transfer, its start (ota_begin) and its end (the image
// checked and put on trial), each loaded by mote-remote for that step and released after.
export { begin, end } from "../device/remote-ota.js";
