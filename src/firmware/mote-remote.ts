// Entry of firmware/mote-remote.js, remote management (loaded by runtime.ts when mote.json has "remote"):
// the resident part, which checks commands and loads mote-remote-cfg / mote-remote-ota on first use.
export { startRemote as start } from "../device/remote.js";
