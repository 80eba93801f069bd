// Entry of firmware/mote-script.js, the API for the user's own code (loaded by runtime.ts when Storage
// holds mote-user.js).
export { startScript as start } from "../device/script.js";
