// The firmware version the runtime bundle reports on <base>/info (fw). Kept with the bundle: an update
// over the air brings its own.
export var VERSION = "0.1.0";
