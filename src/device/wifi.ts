// Joining WiFi, and rejoining with backoff (1 s doubling to 60 s) after a failure or a loss; once joined,
// the MQTT client connects. Where the board has no Wifi module (Espruino on Linux, the simulator without
// WiFi) or the config names no network, it connects at once.
// The closures below are made only where there is a network to join: module-level functions would cost
// their variables on every board, WiFi or not.
import type { Mote } from "./mote.js";
import { board } from "../platform/board.js";

// Runs once, at boot, and then lets its code go (runtime.ts says why); the closures keep what they need.
export let joinWifi = function (m: Mote) {
  joinWifi = undefined as any;
  var W = board.wifi(), w = m.c.wifi, delay = 1000, timer: any = 0;
  if (!W || !w.ssid) { if (W) m.log("wifi: no ssid in mote.json, using the saved network"); m.client.connect(); return; }
  function join() {
    timer = 0;
    W.connect(w.ssid, { password: w.password }, function (err: any) {
      if (err) {
        m.log("wifi: " + err);
        later();
      } else {
        delay = 1000;
        m.log("wifi: joined " + w.ssid);
        m.client.connect();
      }
    });
  }
  function later() {
    if (!timer) timer = board.after(join, delay);
    delay = Math.min(delay * 2, 60000);
  }
  m.w = W;
  W.on("disconnected", later);
  join();
};

// Signal strength in dBm (ESP32 reports it in getStatus, ESP8266 in getDetails); undefined without WiFi.
export function rssi(m: Mote): any {
  var W = m.w;
  return W ? W.getStatus().rssi || W.getDetails().rssi : undefined;
}
