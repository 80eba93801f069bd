// Entry of firmware/mote-remote-cmd.js: checks and runs one remote command (loaded by mote-remote for
// each message, then released).
export { handle } from "../device/remote-cmd.js";
