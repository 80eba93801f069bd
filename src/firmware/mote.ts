// Entry of firmware/mote.js, the device boot code (Storage .bootcde): starts the runtime at boot
// and leaves it as the global `mote` (mote.stop() says "offline" and disconnects).
import { start } from "../device/runtime.js";

declare var global: any;

E.on("init", function () { global.mote = start(); });
