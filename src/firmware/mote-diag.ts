// Entry of firmware/mote-diag.js, the diagnostics feature (loaded by runtime.ts unless diag_every is 0).
export { startDiag as start } from "../device/diag.js";
