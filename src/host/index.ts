// Host simulator entry point: see simulator.ts for the API.
export { SimBoard, SOCKET_ERRORS, clientParts, firmwareDir } from "./simulator.js";
export { flashLayout, writeLayout } from "./flash-layout.js";
export type { SimBoardOptions, EspruinoMemory } from "./simulator.js";
export { loadBoardSpec, checkBoardSpec, chipOf, repoRoot, BUILTIN_BOARDS, DEFAULT_BOARD } from "./board-spec.js";
export type { BoardSpec } from "./board-spec.js";
export { SimPins, PIN_MODES } from "./pins.js";
export type { PinState, PinWriteListener } from "./pins.js";
export { SimSensors } from "./sensors.js";
export type { SensorTiming, DhtReading } from "./sensors.js";
export { SimStorage, PowerCut } from "./storage.js";
export { SimWifi } from "./wifi.js";
export type { WifiNetwork } from "./wifi.js";
