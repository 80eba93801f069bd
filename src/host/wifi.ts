// Simulated WiFi for the host simulator: the access point (up, or dropped by the test) and the
// board's station, driven by the board's Wifi module (connect/disconnect) with Espruino's events
// ("associated", "connected" {ip, netmask, gw}, "disconnected" {ssid, mac, reason, msg}) and
// callbacks (cb(null) on success, cb("reason") on failure).
//
// Two regimes:
//  - unmanaged (the board's code never called Wifi.connect/disconnect): the station behaves as if
//    credentials were saved on the board: it is "connected" whenever the access point is up, and
//    the network works. This is what a bare MQTT client test sees.
//  - managed (after the first Wifi.connect/disconnect): the station is connected only after a
//    successful Wifi.connect, drops when the access point goes down, and does NOT rejoin by itself
//    when it comes back (Espruino's ESP32 port gives up after its retries): the code must call
//    Wifi.connect again.

export interface WifiHooks {
  /** Queue an event on the board's Wifi module. */
  event(name: string, details?: Record<string, unknown>): void;
  /** Complete the pending Wifi.connect callback (null = success). */
  done(err: string | null): void;
  /** The link went away: break every open socket. */
  linkLost(): void;
  /** A host timer the board tracks (cleared by close()). */
  later(fn: () => void, ms: number): void;
  rssi(): number;
}

export interface WifiNetwork {
  /** SSID the simulated access point answers to (undefined: any). */
  ssid?: string;
  /** Password it accepts (undefined: any). */
  password?: string;
}

export class SimWifi {
  /** Access point reachable. */
  up = true;
  /** True once the board's code has called Wifi.connect or Wifi.disconnect. */
  managed = false;
  /** Delay of a successful join, and of a failed one (ms). */
  connectDelay = 150;
  failDelay = 1500;
  ip = "10.0.0.42";
  netmask = "255.255.255.0";
  gw = "10.0.0.1";
  bssid = "60:e3:27:4d:6f:74";
  channel = 6;
  hostname = "espruino";
  network: WifiNetwork = {};
  /** Station state when managed: "off", "connecting", "connected", or the reason of the last failure. */
  private state = "off";
  private ssid = "";
  private password = "";
  private attempt = 0;
  private failures: string[] = [];

  constructor(private readonly hooks: WifiHooks, readonly mac: string) {}

  // ------------------------------------------------------------------ host controls

  /** The access point disappears: "disconnected" on the Wifi module, every socket breaks, new
   *  connections fail until restore(). */
  drop(): void {
    if (!this.up) return;
    const wasConnected = this.station === "connected" || this.station === "connecting";
    this.up = false;
    this.attempt++;
    if (this.managed) {
      const pending = this.state === "connecting";
      this.state = "no_ap_found";
      if (wasConnected) this.hooks.event("disconnected", { ssid: this.ssid, mac: this.bssid, reason: "200", msg: "beacon_timeout" });
      if (pending) this.hooks.done("no_ap_found");
    } else if (wasConnected) {
      this.hooks.event("disconnected", { ssid: this.network.ssid ?? "", mac: this.bssid, reason: "200", msg: "beacon_timeout" });
    }
    this.hooks.linkLost();
  }

  /** The access point is back. Unmanaged, the station rejoins by itself ("associated", "connected"
   *  events after connectDelay); managed, the board's code must call Wifi.connect again. */
  restore(): void {
    if (this.up) return;
    this.up = true;
    if (!this.managed) {
      const my = ++this.attempt;
      this.hooks.later(() => {
        if (my !== this.attempt || !this.up || this.managed) return;
        this.hooks.event("associated", { ssid: this.network.ssid ?? "", mac: this.bssid, channel: String(this.channel) });
        this.hooks.event("connected", { ip: this.ip, netmask: this.netmask, gw: this.gw });
      }, this.connectDelay);
    }
  }

  /** The station as getStatus() reports it. */
  get station(): string {
    if (!this.managed) return this.up ? "connected" : "no_ap_found";
    return this.state;
  }

  /** Station connected (what a socket needs when the board manages its WiFi). */
  get connected(): boolean {
    return this.station === "connected";
  }

  /** The next `n` Wifi.connect attempts fail with `reason` ("no_ap_found", "auth_fail", "connect_fail"...). */
  failNext(n = 1, reason = "no_ap_found"): void {
    for (let i = 0; i < n; i++) this.failures.push(reason);
  }

  /** What the simulated access point accepts. */
  setNetwork(network: WifiNetwork): void {
    this.network = { ...network };
  }

  /** After a reboot: a managed station is off again. */
  resetStation(): void {
    this.attempt++;
    if (this.managed) this.state = "off";
  }

  // ------------------------------------------------------------------ board side (Wifi module)

  connect(ssid: string, password: string): void {
    this.managed = true;
    const my = ++this.attempt;
    this.state = "connecting";
    let reason: string | null = null;
    if (!this.up) reason = "no_ap_found";
    else if (this.network.ssid !== undefined && ssid !== this.network.ssid) reason = "no_ap_found";
    else if (this.network.password !== undefined && password !== this.network.password) reason = "auth_fail";
    else if (this.failures.length) reason = this.failures.shift()!;
    this.hooks.later(() => {
      if (my !== this.attempt) return;
      if (!reason && !this.up) reason = "no_ap_found";
      if (reason) {
        this.state = reason;
        this.hooks.event("disconnected", { ssid, mac: "00:00:00:00:00:00", reason: reason === "auth_fail" ? "202" : "201", msg: reason });
        this.hooks.done(reason);
        return;
      }
      this.state = "connected";
      this.ssid = ssid;
      this.password = password;
      this.hooks.event("associated", { ssid, mac: this.bssid, channel: String(this.channel) });
      this.hooks.done(null);
      this.hooks.event("connected", { ip: this.ip, netmask: this.netmask, gw: this.gw });
    }, reason ? this.failDelay : this.connectDelay);
  }

  disconnect(): void {
    const was = this.station;
    this.managed = true;
    this.attempt++;
    this.state = "off";
    if (was === "connected" || was === "connecting") {
      this.hooks.event("disconnected", { ssid: this.ssid, mac: this.bssid, reason: "8", msg: "assoc_leave" });
      if (was === "connecting") this.hooks.done("assoc_leave");
      if (was === "connected") this.hooks.linkLost();
    }
  }

  status(chip: string): Record<string, unknown> {
    const st = this.station;
    if (chip === "ESP8266") {
      return { station: st, ap: "disabled", mode: st === "off" ? "off" : "sta", phy: "11n", powersave: "ps-poll", savedMode: "sta" };
    }
    if (st === "connected") {
      return { station: "connected", ssid: this.currentSsid(), bssid: this.bssid, channel: this.channel, rssi: this.hooks.rssi(),
        htMode: "HT20", authMode: "wpa2", mode: "STA", powersave: "none" };
    }
    return { station: st, mode: st === "off" ? "NULL" : "STA", powersave: "none" };
  }

  details(chip: string): Record<string, unknown> {
    const st = this.station;
    if (chip === "ESP8266") {
      return { status: st, rssi: st === "connected" ? this.hooks.rssi() : 0, ssid: this.currentSsid(), password: this.password,
        authMode: "wpa2", channel: this.channel, hostname: this.hostname, savedSsid: this.currentSsid() };
    }
    if (st === "connected") return { ssid: this.currentSsid(), password: this.password, status: "connected", authMode: "wpa2" };
    return { status: st };
  }

  ipInfo(): Record<string, unknown> {
    const on = this.station === "connected";
    return { ip: on ? this.ip : "0.0.0.0", netmask: on ? this.netmask : "0.0.0.0", gw: on ? this.gw : "0.0.0.0", mac: this.mac };
  }

  scan(): Record<string, unknown>[] {
    if (!this.up) return [];
    return [{ ssid: this.network.ssid ?? "mote-sim", mac: this.bssid, authMode: "wpa2", channel: this.channel, hidden: false, rssi: this.hooks.rssi() }];
  }

  private currentSsid(): string {
    return this.managed ? this.ssid : this.network.ssid ?? "";
  }
}
