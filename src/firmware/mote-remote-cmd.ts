// Entry of firmware/mote-remote-cmd.js: checks one remote command (loaded by mote-remote for each
// command, then released before the command runs).
export { handle } from "../device/remote-cmd.js";
