// The firmware version, one place for all: the runtime keeps it as m.v (runtime.ts), Home Assistant's
// dev.sw / o.sw and update entity show it (ha-announce.ts), <base>/info's fw says it. The text below is
// a placeholder: the build (rollup.config.js) writes package.json's "version" in its place in every
// bundle, and fails if one is left. Kept with the runtime bundle, so an update over the air that brings a
// new runtime brings its own version with it.
export var VERSION = "__MOTE_VERSION__";
