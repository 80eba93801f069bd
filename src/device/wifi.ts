// Joining WiFi, and rejoining with backoff (1 s doubling to 60 s) after a failure or a loss.
// Where the board has no Wifi module (Espruino on Linux, the simulator without WiFi) or the config
// names no network, it goes straight on: up() is called at once.
import type { Mote } from "./mote.js";
import { board } from "../platform/board.js";

export function joinWifi(m: Mote, up: () => void) {
  var W = board.wifi(), w = m.c.wifi, delay = 1000, timer: any = 0;
  if (!W || !w.ssid) { if (W) m.log("wifi: no ssid in mote.json, using the saved network"); return up(); }
  function join() {
    timer = 0;
    W.connect(w.ssid, { password: w.password }, function (err: any) {
      if (err) {
        m.log("wifi: " + err);
        later();
      } else {
        delay = 1000;
        m.log("wifi: joined " + w.ssid);
        up();
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
}

// Signal strength in dBm (ESP32 reports it in getStatus, ESP8266 in getDetails); undefined without WiFi.
export function rssi(m: Mote): any {
  var W = m.w;
  return W ? W.getStatus().rssi || W.getDetails().rssi : undefined;
}
