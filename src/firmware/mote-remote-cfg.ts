// Entry of firmware/mote-remote-cfg.js: config_get and config_set (loaded by mote-remote for one command).
export { run } from "../device/remote-config.js";
