// Entry of firmware/mote-swap.js: swaps the files of an update in and out (loaded by the boot guard only
// when the boot state names such files, released right after).
export { forward, back, clean } from "../device/swap.js";
