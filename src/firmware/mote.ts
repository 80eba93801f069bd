// Entry of firmware/mote.js, the device runtime: run by the boot guard (firmware/boot.js, .bootcde) from
// Storage mote.a or mote.b, or on its own as .bootcde. Starts the runtime at boot and leaves it as the
// global `mote` (mote.stop() says "offline" and disconnects).
import { start } from "../device/runtime.js";

declare var global: any;

E.on("init", function () {
  global.mote = start(global.moteBoot);
  // Started, the listener would stay for good (8 variables): let it go once this event is over.
  setTimeout(function () { E.removeAllListeners("init"); }, 0);
});
