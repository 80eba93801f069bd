// Entry of firmware/mote-sleep.js, battery boards' deep-sleep duty cycle (loaded by runtime.ts when
// mote.json has "sleep").
export { startSleep as start } from "../device/sleep.js";
