// Entry of firmware/mote-info.js, the identity message on <base>/info (loaded by runtime.ts at every
// connect, then released).
export { publishInfo as start } from "../device/info.js";
