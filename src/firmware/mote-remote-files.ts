// Entry of firmware/mote-remote-files.js: the files beside the bundle (the `files` and `ota_commit`
// commands, and the set an ota_begin of the bundle brings), loaded for one command and released.
export { named, list, check, need, room, commit, run } from "../device/remote-files.js";
