// The board side of the host simulator: Espruino's globals and built-in modules, written as ONE
// self-contained function whose source text (Function.prototype.toString) simulator.ts evaluates
// INSIDE the board's vm context. Everything it creates (objects, arrays, functions, errors) therefore
// belongs to the board's realm, exactly like values made by the board code itself.
//
// Rules for this file: `espruinoPrelude` must not refer to anything outside its own body (no imports,
// no module-level names; TypeScript types are fine, they vanish). It talks to Node only through `H`,
// the bridge of host functions made by simulator.ts, passing strings, numbers, booleans and board
// functions/objects, and gets back primitives or JSON text. It returns `K`, the functions the host
// calls back into (event queue, timers, sockets, WiFi, boot).

/* eslint-disable */
export function espruinoPrelude(G: any, H: any): any {
  var ObjectProto = Object.prototype;
  var hasOwn = function (o: any, k: string) { return ObjectProto.hasOwnProperty.call(o, k); };
  var defineProperty = Object.defineProperty;
  var TO_PRIMITIVE = Symbol.toPrimitive; // captured: Symbol itself is removed from the board
  var JSONparse = JSON.parse;
  var ErrorCtor = Error, TypeErrorCtor = TypeError;
  var fromCharCode = String.fromCharCode;

  function hidden(o: any, k: string, v: any) {
    defineProperty(o, k, { value: v, writable: true, configurable: true, enumerable: false });
  }
  // Host failures become board-realm errors, so board code can catch them like Espruino's exceptions.
  function hx(name: string) {
    var f = H[name];
    return function () {
      try { return f.apply(H, arguments); } catch (e: any) { throw new ErrorCtor(e && e.message ? e.message : String(e)); }
    };
  }
  var host: any = {};
  for (var hk in H) if (typeof H[hk] === "function") host[hk] = hx(hk);
  var info = JSONparse(H.infoJSON());
  if (info.bytes) {
    // A build without Unicode support keeps 8 bits per character: "\u0100" parses as "\u0000".
    var JSONparseAll = JSONparse;
    JSON.parse = function parse(text: any, reviver: any) {
      // Each backslash escape in turn (so an escaped backslash is never read as the start of one).
      return JSONparseAll(String(text).replace(/\\(u[0-9a-fA-F]{2}([0-9a-fA-F]{2})|[^])/g,
        function (m: string, e: string, lo: string) { return lo ? "\\u00" + lo : m; }), reviver);
    };
  }

  // ------------------------------------------------------------------ the event queue
  // Espruino's emit queues the listeners; they run after the current code, in order, each one
  // guarded: an exception is reported (process "uncaughtException" listeners, else the console).
  var queue: any[] = [];
  var stopPropagation = false;
  function report(e: any) {
    var l = hasOwn(G.process, "#onuncaughtException") ? G.process["#onuncaughtException"] : null;
    if (l && l.length) queueCall(G.process, l, [e]);
    else H.uncaught(e);
  }
  function callOne(target: any, f: any, args: any[]) {
    try {
      if (typeof f === "string") (0, eval)(f);
      else if (typeof f === "function") f.apply(target, args);
    } catch (e) { report(e); }
  }
  function callListeners(target: any, fns: any, args: any[]) {
    if (typeof fns === "function" || typeof fns === "string") { callOne(target, fns, args); return; }
    stopPropagation = false;
    // the live array: removeListener() during an earlier listener removes later ones (as on Espruino)
    for (var i = 0; i < fns.length; i++) {
      callOne(target, fns[i], args);
      if (stopPropagation) break;
    }
    stopPropagation = false;
  }
  function queueCall(target: any, fns: any, args: any[]) {
    queue.push([target, fns, args]);
    H.schedule();
  }
  function drain() {
    var batch = queue;
    queue = [];
    for (var i = 0; i < batch.length; i++) {
      if (H.halted()) return;
      callListeners(batch[i][0], batch[i][1], batch[i][2]);
    }
  }
  function listenersOf(o: any, event: string) {
    var k = "#on" + event;
    return hasOwn(o, k) ? o[k] : undefined;
  }
  function emitOn(o: any, event: string, args: any[]) {
    var l = listenersOf(o, event);
    if (l && l.length) queueCall(o, l, args);
  }

  // ------------------------------------------------------------------ events on every object
  function checkParent(o: any) {
    if (o === null || o === undefined || (typeof o !== "object" && typeof o !== "function") ||
      o instanceof String || o instanceof Number || o instanceof Boolean)
      throw new TypeErrorCtor("Parent must be an object - not a String, Integer, etc");
  }
  function addListener(this: any, event: any, listener: any, first: boolean) {
    checkParent(this);
    if (typeof event !== "string") throw new TypeErrorCtor("First argument must be String");
    if (typeof listener !== "function" && typeof listener !== "string")
      throw new TypeErrorCtor("Second argument must be a function or a String");
    var old = listenersOf(this, event);
    var arr: any[] = [];
    if (first) arr.push(listener);
    if (old) for (var i = 0; i < old.length; i++) arr.push(old[i]);
    if (!first) arr.push(listener);
    hidden(this, "#on" + event, arr); // a new array: a listener added while the event runs is not called
    if (event === "data" && hasOwn(this, "#buf") && this["#buf"]) {
      var b = this["#buf"];
      this["#buf"] = "";
      queueCall(this, arr, [b]);
    }
  }
  hidden(ObjectProto, "on", function on(this: any, event: any, listener: any) { addListener.call(this, event, listener, false); });
  hidden(ObjectProto, "addListener", function addListener_(this: any, event: any, listener: any) { addListener.call(this, event, listener, false); });
  hidden(ObjectProto, "prependListener", function prependListener(this: any, event: any, listener: any) { addListener.call(this, event, listener, true); });
  hidden(ObjectProto, "emit", function emit(this: any, event: any) {
    checkParent(this);
    if (typeof event !== "string") throw new TypeErrorCtor("First argument must be String");
    if (arguments.length > 5) throw new TypeErrorCtor("Too many arguments (>4)");
    var args: any[] = [];
    for (var i = 1; i < arguments.length; i++) args.push(arguments[i]);
    var l = listenersOf(this, event);
    if (l) queueCall(this, l, args); // the array is captured now: listeners added later are not called
  });
  hidden(ObjectProto, "removeListener", function removeListener(this: any, event: any, listener: any) {
    checkParent(this);
    if (typeof event !== "string") throw new TypeErrorCtor("First argument must be String");
    var l = listenersOf(this, event);
    if (l && l.length !== undefined) {
      var i = l.indexOf(listener);
      if (i >= 0) l.splice(i, 1);
    }
  });
  hidden(ObjectProto, "removeAllListeners", function removeAllListeners(this: any, event: any) {
    checkParent(this);
    if (typeof event === "string") { delete this["#on" + event]; return; }
    if (event !== undefined) throw new TypeErrorCtor("First argument must be String or undefined");
    var names = Object.getOwnPropertyNames(this);
    for (var i = 0; i < names.length; i++) if (names[i].indexOf("#on") === 0) delete this[names[i]];
  });

  // ------------------------------------------------------------------ timers, time, console
  function checkTimerFn(fn: any) {
    if (typeof fn !== "function" && typeof fn !== "string") throw new ErrorCtor("Function or String not supplied!");
  }
  function restArgs(a: any, from: number) {
    var r: any[] = [];
    for (var i = from; i < a.length; i++) r.push(a[i]);
    return r;
  }
  G.setTimeout = function setTimeout(fn: any, timeout: any) {
    checkTimerFn(fn);
    return H.setTimer(fn, Number(timeout), false, restArgs(arguments, 2));
  };
  G.setInterval = function setInterval(fn: any, timeout: any) {
    checkTimerFn(fn);
    return H.setTimer(fn, Number(timeout), true, restArgs(arguments, 2));
  };
  function clearer(name: string) {
    return function (this: any) {
      if (arguments.length === 0) { H.clearAllTimers(); return; }
      var id = arguments[0];
      if (id === undefined) throw new ErrorCtor("clear" + name + "(undefined) not allowed. Use clear" + name + "() instead");
      H.clearTimer(id);
    };
  }
  G.clearTimeout = clearer("Timeout");
  G.clearInterval = clearer("Interval");
  G.changeInterval = function changeInterval(id: any, time: any) {
    if (!H.changeInterval(id, Number(time))) throw new ErrorCtor("Unknown Interval");
  };
  G.getTime = function getTime() { return H.now(); };
  G.getSerial = function getSerial() { return info.serial; };

  function format(v: any): string {
    if (typeof v === "string") return v;
    if (v === undefined) return "undefined";
    if (typeof v === "function") return String(v);
    if (v instanceof ErrorCtor) return String(v);
    if (v && typeof v === "object" && hasOwn(v, "#pin")) return v["#pin"];
    try {
      var s = JSON.stringify(v, null, 1);
      return s === undefined ? String(v) : s.replace(/\n */g, " ");
    } catch (e) { return String(v); }
  }
  function printer() {
    return function () {
      var parts: string[] = [];
      for (var i = 0; i < arguments.length; i++) parts.push(format(arguments[i]));
      H.log(parts.join(" "));
    };
  }
  G.console = { log: printer(), debug: printer(), info: printer(), warn: printer(), error: printer(), trace: printer() };
  G.print = printer();
  G.global = G;

  // ------------------------------------------------------------------ bytes
  function pushBytes(v: any, out: number[]) {
    if (v === undefined || v === null) return;
    var t = typeof v;
    if (t === "number") { out.push(v & 255); return; }
    if (t === "boolean") { out.push(v ? 1 : 0); return; }
    if (t === "string") { for (var i = 0; i < v.length; i++) out.push(v.charCodeAt(i) & 255); return; }
    if (v instanceof ArrayBuffer) { pushBytes(new Uint8Array(v), out); return; }
    if (v instanceof DataView) { pushBytes(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), out); return; }
    if (Array.isArray(v) || ArrayBuffer.isView(v)) { for (var j = 0; j < (v as any).length; j++) pushBytes((v as any)[j], out); return; }
    if (t === "object" && hasOwn(v, "data")) {
      var count = v.count === undefined ? 1 : v.count;
      for (var k = 0; k < count; k++) pushBytes(v.data, out);
      return;
    }
    if (t === "object" && hasOwn(v, "#pin")) { out.push(H.pinIndex(v["#pin"]) & 255); return; }
  }
  function bytesToString(b: number[]) {
    var s = "";
    for (var i = 0; i < b.length; i += 4096) s += fromCharCode.apply(null, b.slice(i, i + 4096));
    return s;
  }
  function toBinaryString(args: any): string {
    if (args.length === 1 && typeof args[0] === "string") return args[0];
    var out: number[] = [];
    for (var i = 0; i < args.length; i++) pushBytes(args[i], out);
    return bytesToString(out);
  }
  G.atob = function atob(s: any) { return host.atob(String(s)); };
  G.btoa = function btoa(s: any) { return host.btoa(String(s)); };

  // ------------------------------------------------------------------ E
  var E: any = {};
  G.E = E;
  E.getSizeOf = function getSizeOf(v: any) { return H.sizeOf(v); };
  E.toString = function toString() { return toBinaryString(arguments); };
  E.toUint8Array = function toUint8Array() {
    var out: number[] = [];
    for (var i = 0; i < arguments.length; i++) pushBytes(arguments[i], out);
    var u = new Uint8Array(out.length);
    for (var j = 0; j < out.length; j++) u[j] = out[j];
    return u;
  };
  E.toArrayBuffer = function toArrayBuffer(s: any) { return E.toUint8Array(String(s)).buffer; };
  E.getTemperature = function getTemperature() { return H.temperature(); };
  E.reboot = function reboot() { H.reboot(); };
  // load(): the interpreter starts again from Storage's boot code (RAM lost), as after a reset.
  G.load = function load() { H.reboot("load()"); };
  E.clip = function clip(x: any, min: any, max: any) { x = Number(x); return x < min ? min : x > max ? max : x; };
  E.hwRand = function hwRand() { return (Math.random() * 4294967296) | 0; };
  E.stopEventPropagation = function stopEventPropagation() { stopPropagation = true; };
  E.getErrorFlags = function getErrorFlags() { return []; };
  E.enableWatchdog = function enableWatchdog() {};
  E.kickWatchdog = function kickWatchdog() {};
  E.lookupNoCase = function lookupNoCase(o: any, name: any, returnKey: any) {
    var n = String(name).toLowerCase();
    for (var k in o) if (k.toLowerCase() === n) return returnKey ? k : o[k];
    return undefined;
  };
  E.isUTF8 = function isUTF8(s: any) { return H.isUTF8(String(s)); };
  E.asUTF8 = function asUTF8(s: any) { return host.asUTF8(String(s)); };
  E.fromUTF8 = function fromUTF8(s: any) { return host.fromUTF8(String(s)); };

  // ------------------------------------------------------------------ process
  G.process = {
    version: info.version,
    env: info.env,
    memory: function memory() { return JSONparse(H.memoryJSON()); },
  };

  // ------------------------------------------------------------------ pins
  function Pin(this: any, p: any) {
    var name = pinName(p);
    return pinObjects[name];
  }
  var PinProto = Pin.prototype as any;
  var pinObjects: any = {};
  function pinName(p: any): string {
    if (p && typeof p === "object" && hasOwn(p, "#pin")) return p["#pin"];
    if (typeof p === "string" && H.pinValid(p)) return p;
    if (typeof p === "number" && H.pinValid("D" + p)) return "D" + p;
    throw new ErrorCtor("Invalid pin");
  }
  hidden(PinProto, "read", function read(this: any) { return H.pinRead(this["#pin"]) === 1; });
  hidden(PinProto, "write", function write(this: any, v: any) { H.pinWrite(this["#pin"], v ? 1 : 0); });
  hidden(PinProto, "set", function set(this: any) { H.pinWrite(this["#pin"], 1); });
  hidden(PinProto, "reset", function reset(this: any) { H.pinWrite(this["#pin"], 0); });
  hidden(PinProto, "toggle", function toggle(this: any) {
    var v = H.pinLatch(this["#pin"]) ? 0 : 1;
    H.pinWrite(this["#pin"], v);
    return v === 1;
  });
  hidden(PinProto, "mode", function mode(this: any, m: any) { G.pinMode(this, m); });
  hidden(PinProto, "getMode", function getMode(this: any) { return H.pinGetMode(this["#pin"]); });
  hidden(PinProto, "analog", function analog(this: any) { return H.analogRead(this["#pin"]); });
  hidden(PinProto, "getInfo", function getInfo(this: any) { return JSONparse(H.pinInfoJSON(this["#pin"])); });
  hidden(PinProto, "toString", function toString(this: any) { return this["#pin"]; });
  hidden(PinProto, "toJSON", function toJSON(this: any) { return this["#pin"]; });
  hidden(PinProto, TO_PRIMITIVE as any, function (this: any, hint: string) {
    return hint === "number" ? H.pinIndex(this["#pin"]) : this["#pin"];
  });
  G.Pin = Pin;
  for (var pi = 0; pi < info.pins.length; pi++) {
    var pobj = Object.create(PinProto);
    hidden(pobj, "#pin", info.pins[pi]);
    pinObjects[info.pins[pi]] = pobj;
    G[info.pins[pi]] = pobj;
  }
  if (info.led1) G.LED1 = pinObjects[info.led1];

  G.digitalWrite = function digitalWrite(pin: any, value: any) {
    if (Array.isArray(pin)) {
      var v = Number(value) | 0;
      for (var i = pin.length - 1; i >= 0; i--) { H.pinWrite(pinName(pin[i]), v & 1); v >>= 1; }
      return;
    }
    H.pinWrite(pinName(pin), value ? 1 : 0);
  };
  G.digitalRead = function digitalRead(pin: any) {
    if (Array.isArray(pin)) {
      var r = 0;
      for (var i = 0; i < pin.length; i++) r = (r << 1) | H.pinRead(pinName(pin[i]));
      return r;
    }
    return H.pinRead(pinName(pin));
  };
  G.analogRead = function analogRead(pin: any) { return H.analogRead(pinName(pin)); };
  G.analogWrite = function analogWrite(pin: any, value: any, options: any) {
    H.analogWrite(pinName(pin), Number(value), options && options.freq !== undefined ? Number(options.freq) : undefined);
  };
  G.pinMode = function pinMode(pin: any, mode: any) {
    var name = pinName(pin);
    if (mode !== undefined && info.pinModes.indexOf(mode) < 0) throw new ErrorCtor("Unknown pin mode");
    H.pinMode(name, mode);
  };
  G.getPinMode = function getPinMode(pin: any) { return H.pinGetMode(pinName(pin)); };

  // ------------------------------------------------------------------ require
  var modules: any = {};
  var natives: any = {};
  function evalModule(wrapper: any) {
    var exports = {};
    var module: any = { exports: exports };
    wrapper.call(exports, exports, module);
    return module.exports;
  }
  G.require = function require(name: any) {
    if (typeof name !== "string") throw new TypeErrorCtor("Expecting module name as a string, got " + typeof name);
    if (hasOwn(modules, name)) return modules[name];
    var m;
    if (hasOwn(natives, name)) m = natives[name]();
    else {
      var wrapper = host.loadModule(name);
      if (wrapper) m = evalModule(wrapper);
    }
    if (m === undefined) throw new ErrorCtor("Module " + JSON.stringify(name) + " not found");
    modules[name] = m;
    return m;
  };
  G.Modules = {
    addCached: function addCached(name: any, source: any) {
      modules[String(name)] = evalModule(host.compileModule(String(name), String(source)));
    },
    // As Espruino's (jswrap_modules.c): a module that is not cached is an error, not a no-op.
    removeCached: function removeCached(name: any) {
      if (typeof name !== "string") throw new ErrorCtor("First argument must be String");
      if (!hasOwn(modules, name)) throw new ErrorCtor("Module " + JSON.stringify(name) + " not found");
      delete modules[name];
    },
    removeAllCached: function removeAllCached() { for (var k in modules) delete modules[k]; },
    getCached: function getCached() { return Object.keys(modules); },
  };

  // ------------------------------------------------------------------ net / tls sockets
  var sockets: any = {};
  var SocketProto: any = {};
  var ERRS: any = { "-1": "connection closed", "-2": "out of memory", "-3": "timeout", "-4": "no route", "-5": "busy",
    "-6": "not found", "-7": "max sockets", "-8": "unsent data", "-9": "connection reset", "-10": "unknown error",
    "-11": "no connection", "-12": "bad argument", "-13": "SSL handshake failed", "-14": "invalid SSL data", "-15": "no response" };
  SocketProto.write = function write(this: any, data: any) {
    if (this["#closed"]) throw new ErrorCtor("This socket is closed");
    H.sockWrite(this["#id"], typeof data === "string" ? data : String(data));
    return false;
  };
  SocketProto.end = function end(this: any, data: any) {
    if (this["#closed"]) return;
    if (data !== undefined) this.write(data);
    H.sockEnd(this["#id"]);
  };
  SocketProto.available = function available(this: any) { return (this["#buf"] || "").length; };
  SocketProto.read = function read(this: any, n: any) {
    var b = this["#buf"] || "";
    var len = n === undefined ? b.length : Math.min(b.length, Number(n));
    this["#buf"] = b.substr(len);
    return b.substr(0, len);
  };
  function parseUrl(s: string) {
    var m = /^(?:[a-z]+:\/\/)?([^:/]*)(?::(\d+))?/.exec(s);
    return { host: m ? m[1] : s, port: m && m[2] ? Number(m[2]) : undefined };
  }
  function certData(v: any) {
    if (typeof v === "function") v = v();
    return v === undefined || v === null ? undefined : String(v);
  }
  function connect(options: any, callback: any, tls: boolean) {
    if (typeof options === "string") options = parseUrl(options);
    if (!options || typeof options !== "object") throw new ErrorCtor("Expecting Options to be an Object but it was " + typeof options);
    if (callback !== undefined && typeof callback !== "function") throw new ErrorCtor("Expecting Callback Function but got " + typeof callback);
    var s = Object.create(SocketProto);
    if (callback) s.on("connect", callback);
    var t = tls ? {
      ca: certData(options.ca), cert: certData(options.cert), key: certData(options.key),
      rejectUnauthorized: options.rejectUnauthorized === true, servername: options.servername,
    } : null;
    var id = host.sockOpen(String(options.host === undefined ? "localhost" : options.host),
      options.port === undefined ? (tls ? 443 : 80) : Number(options.port), t);
    hidden(s, "#id", id);
    sockets[id] = s;
    return s;
  }
  natives.net = function () {
    return { connect: function connect_(options: any, callback: any) { return connect(options, callback, false); } };
  };
  if (info.tls) natives.tls = function () {
    return { connect: function connect_(options: any, callback: any) { return connect(options, callback, true); } };
  };
  function sockEvent(id: number, type: string, a: any) {
    var s = sockets[id];
    if (!s) return;
    if (type === "connect") {
      emitOn(s, "connect", [s]);
      emitOn(s, "drain", [s]);
    } else if (type === "data") {
      var l = listenersOf(s, "data");
      if (l && l.length) queueCall(s, l, [a]);
      else hidden(s, "#buf", (s["#buf"] || "") + a);
    } else if (type === "drain") {
      emitOn(s, "drain", [s]);
    } else if (type === "close") {
      delete sockets[id];
      hidden(s, "#closed", true);
      var code = Number(a) || 0;
      var hadError = code < 0 && code !== -1;
      if (hadError) emitOn(s, "error", [{ code: code, message: ERRS[String(code)] || ERRS["-10"] }]);
      emitOn(s, "end", []);
      emitOn(s, "close", [hadError]);
    }
  }

  // ------------------------------------------------------------------ eval
  // Espruino names the Storage file and its line in the stack of an error thrown by code evaluated from
  // a string read from Storage ("at f (mote-user.js:5:7)"): strings read from Storage are remembered
  // (the last few, by name) and eval gives V8 their name as sourceURL, so stacks say the same here.
  // Like every eval here, it runs in the global scope.
  var readFromStorage: any = {};
  var nativeEval = G.eval;
  G.eval = function (src: any) {
    var text = src;
    if (typeof src === "string") for (var n in readFromStorage) if (readFromStorage[n] === src) { text = src + "\n//# sourceURL=" + n; break; }
    return nativeEval(text);
  };

  // ------------------------------------------------------------------ Storage
  function storageData(data: any) {
    if (typeof data === "string") return data;
    if (data instanceof ArrayBuffer || ArrayBuffer.isView(data) || Array.isArray(data)) return toBinaryString([data]);
    return String(data);
  }
  natives.Storage = function () {
    var S: any = {
      read: function read(name: any, offset: any, length: any) {
        var d = host.stRead(String(name), offset === undefined ? 0 : Number(offset), length === undefined ? undefined : Number(length));
        if (typeof d === "string" && /\.js$/.test(String(name))) readFromStorage[String(name)] = d;
        return d;
      },
      readJSON: function readJSON(name: any, noExceptions: any) {
        var s = host.stRead(String(name), 0, undefined);
        if (s === undefined) return undefined;
        try { return JSONparse(s); } catch (e) { if (noExceptions) return undefined; throw e; }
      },
      readArrayBuffer: function readArrayBuffer(name: any) {
        var s = host.stRead(String(name), 0, undefined);
        return s === undefined ? undefined : E.toUint8Array(s).buffer;
      },
      write: function write(name: any, data: any, offset: any, size: any) {
        return host.stWrite(String(name), storageData(data), offset === undefined ? undefined : Number(offset),
          size === undefined ? undefined : Number(size));
      },
      writeJSON: function writeJSON(name: any, data: any) { return S.write(name, JSON.stringify(data)); },
      erase: function erase(name: any) { host.stErase(String(name)); },
      eraseAll: function eraseAll() { host.stEraseAll(); },
      list: function list(pattern: any) {
        var names = JSONparse(host.stListJSON());
        if (pattern === undefined || pattern === null) return names;
        var re = pattern instanceof RegExp ? pattern : new RegExp(String(pattern));
        return names.filter(function (n: string) { re.lastIndex = 0; return re.test(n); });
      },
      getFree: function getFree() { return host.stFree(); },
      getStats: function getStats() { return JSONparse(host.stStatsJSON()); },
      compact: function compact() {},
      debug: function debug() {},
    };
    return S;
  };

  // ------------------------------------------------------------------ crypto
  // As Espruino's builds: SHA1..SHA512 on ESP32, SHA1 only on ESP8266. Each hashes a string (its
  // character codes as bytes) or an array/ArrayBuffer and returns an ArrayBuffer.
  function hasher(alg: string) {
    return function (data: any) {
      var h = H.hash(alg, storageData(data)), u = new Uint8Array(h.length / 2);
      for (var i = 0; i < u.length; i++) u[i] = parseInt(h.substr(2 * i, 2), 16);
      return u.buffer;
    };
  }
  natives.crypto = function () {
    var C: any = { SHA1: hasher("sha1") };
    if (info.chip === "ESP32") { C.SHA224 = hasher("sha224"); C.SHA256 = hasher("sha256"); C.SHA384 = hasher("sha384"); C.SHA512 = hasher("sha512"); }
    return C;
  };

  // ------------------------------------------------------------------ Wifi
  var wifiCallback: any = null;
  if (info.wifi) natives.Wifi = function () {
    var W: any = {
      connect: function connect(ssid: any, options: any, callback: any) {
        if (typeof ssid !== "string") throw new ErrorCtor("No SSID provided");
        if (options !== undefined && options !== null && typeof options !== "object")
          throw new ErrorCtor("Expecting options to be an Object but it was " + typeof options);
        if (callback !== undefined && typeof callback !== "function")
          throw new ErrorCtor("Expecting a callback function but got " + typeof callback);
        var pw = options && options.password;
        if (pw !== undefined && pw !== null && typeof pw !== "string")
          throw new ErrorCtor("Expecting options.password to be a string but got " + typeof pw);
        wifiCallback = callback || null;
        host.wifiConnect(ssid, pw === undefined || pw === null ? "" : pw);
      },
      disconnect: function disconnect(callback: any) {
        host.wifiDisconnect();
        if (typeof callback === "function") queueCall(undefined, callback, []);
      },
      getStatus: function getStatus(callback: any) {
        var st = JSONparse(H.wifiStatusJSON());
        if (typeof callback === "function") queueCall(undefined, callback, [st]);
        return st;
      },
      getDetails: function getDetails(callback: any) {
        var d = JSONparse(H.wifiDetailsJSON());
        if (typeof callback === "function") queueCall(undefined, callback, [d]);
        return d;
      },
      getIP: function getIP(callback: any) {
        var ip = JSONparse(H.wifiIPJSON());
        if (typeof callback === "function") queueCall(undefined, callback, [null, ip]);
        return ip;
      },
      getHostname: function getHostname(callback: any) {
        var h = H.wifiHostname();
        if (typeof callback === "function") queueCall(undefined, callback, [h]);
        return h;
      },
      setHostname: function setHostname(h: any, callback: any) {
        H.wifiSetHostname(String(h));
        if (typeof callback === "function") queueCall(undefined, callback, []);
      },
      scan: function scan(callback: any) {
        var list = JSONparse(H.wifiScanJSON());
        if (typeof callback === "function") queueCall(undefined, callback, [list]);
      },
      save: function save() {},
      restore: function restore() {},
      setConfig: function setConfig() {},
    };
    return W;
  };
  function wifiEvent(event: string, detailsJSON: string) {
    if (!info.wifi) return;
    emitOn(G.require("Wifi"), event, detailsJSON === undefined ? [] : [JSONparse(detailsJSON)]);
  }
  function wifiDone(err: any) {
    var cb = wifiCallback;
    wifiCallback = null;
    if (cb) queueCall(undefined, cb, [err === undefined ? null : err]);
  }

  // ------------------------------------------------------------------ chip modules
  if (info.chip === "ESP32") natives.ESP32 = function () {
    return {
      getState: function getState() { return JSONparse(H.chipStateJSON()); },
      reboot: function reboot() { H.reboot(); },
      deepSleep: function deepSleep(us: any) { H.deepSleep(Number(us), "ESP32.deepSleep"); },
      setAtten: function setAtten() {},
      enableWifi: function enableWifi() {},
      enableBLE: function enableBLE() {},
      // 0: the start was not a wake from deep sleep; 4: the timer woke it.
      getWakeupCause: function getWakeupCause() { return H.wakeReason() === "deep sleep" ? 4 : 0; },
    };
  };
  if (info.chip === "ESP8266") natives.ESP8266 = function () {
    return {
      getState: function getState() { return JSONparse(H.chipStateJSON()); },
      getResetInfo: function getResetInfo() {
        var r = H.wakeReason();
        return { code: r === "deep sleep" ? 5 : r === "restart" ? 4 : 0, reason: r, exccause: 0, epc1: 0, epc2: 0, epc3: 0, excvaddr: 0, depc: 0 };
      },
      reboot: function reboot() { H.reboot(); },
      deepSleep: function deepSleep(us: any) { H.deepSleep(Number(us), "ESP8266.deepSleep"); },
      setCPUFreq: function setCPUFreq() {},
      logDebug: function logDebug() {},
      setLog: function setLog() {},
      getFreeFlash: function getFreeFlash() { return []; },
      printLog: function printLog() {},
    };
  };

  // ------------------------------------------------------------------ sensors (Espruino's DHT22 / DS18B20 modules)
  natives.DHT22 = function () {
    return {
      connect: function connect(pin: any) {
        var name = pinName(pin);
        return {
          pin: pinObjects[name],
          read: function read(cb: any) {
            var r = H.dhtRead(name); // decided now, delivered after the module's sampling time
            G.setTimeout(function () {
              if (r) cb(JSONparse(r));
              else cb({ err: true, checksumError: false, raw: "", temp: -1, rh: -1 });
            }, H.sensorDelay(r ? "dht22" : "dht22Fail"));
          },
        };
      },
    };
  };
  function OneWire(this: any, pin: any) {
    hidden(this, "#pin", pinName(pin));
  }
  var OWProto = OneWire.prototype as any;
  OWProto.search = function search() { return JSONparse(H.oneWireSearchJSON(this["#pin"])); };
  OWProto.reset = function reset() { return JSONparse(H.oneWireSearchJSON(this["#pin"])).length > 0; };
  OWProto.select = function select() {};
  OWProto.skip = function skip() {};
  OWProto.write = function write() {};
  OWProto.read = function read(n: any) {
    if (n === undefined) return 255;
    var a: number[] = [];
    for (var i = 0; i < n; i++) a.push(255);
    return a;
  };
  G.OneWire = OneWire;
  natives.DS18B20 = function () {
    function DS18B20(this: any, bus: any, device: any) {
      if (!bus || !hasOwn(bus, "#pin")) throw new ErrorCtor("DS18B20: expecting a OneWire object");
      this.bus = bus;
      var codes = bus.search();
      if (device === undefined) this.sCode = codes[0];
      else if (typeof device === "number" && device >= 0 && device <= 126) this.sCode = codes[device];
      else this.sCode = codes.indexOf(device) >= 0 ? device : undefined;
      if (!this.sCode) throw new ErrorCtor("No DS18B20 found");
      this.type = parseInt(this.sCode[0] + this.sCode[1]);
      hidden(this, "#res", 12);
      hidden(this, "#last", 85);
    }
    var P = DS18B20.prototype as any;
    P.setRes = function setRes(res: any) { this["#res"] = E.clip(Math.round(Number(res)), 9, 12); };
    P.getRes = function getRes() { return this["#res"]; };
    P.isPresent = function isPresent() { return this.bus.search().indexOf(this.sCode) >= 0; };
    P.getTemp = function getTemp(callback: any) {
      var me = this;
      var t = H.dsRead(me.bus["#pin"], me["#res"]);
      var v = t === null || t === undefined ? null : t;
      if (!callback) { var last = me["#last"]; if (v !== null) me["#last"] = v; return last; }
      G.setTimeout(function () { if (v !== null) me["#last"] = v; callback(v); }, H.sensorDelay("ds18b20") / (1 << (12 - me["#res"])));
    };
    return { connect: function connect(bus: any, device: any) { return new (DS18B20 as any)(bus, device); } };
  };

  // ------------------------------------------------------------------ setWatch
  // Watches live on the host (simulator.ts), which sees pin levels change and applies the debounce:
  // an edge counts once the pin has kept its new level for `debounce` ms, as Espruino's does.
  G.setWatch = function setWatch(fn: any, pin: any, options: any) {
    if (typeof fn !== "function" && typeof fn !== "string") throw new ErrorCtor("Function or String not supplied!");
    var o = typeof options === "object" && options ? options : {};
    var edge = o.edge === "rising" || o.edge === 1 ? 1 : o.edge === "falling" || o.edge === -1 ? -1 : 0;
    return H.watchAdd(fn, pinName(pin), !!o.repeat, edge, o.debounce > 0 ? Number(o.debounce) : 0);
  };
  G.clearWatch = function clearWatch(id: any) {
    if (arguments.length === 0) { H.watchClear(-1); return; }
    if (id === undefined) throw new ErrorCtor("clearWatch(undefined) not allowed. Use clearWatch() instead");
    H.watchClear(Number(id));
  };
  function watchFire(fn: any, state: number, time: number, lastTime: number, pin: string) {
    callOne(undefined, fn, [{ state: state === 1, time: time, lastTime: lastTime, pin: pinObjects[pin] }]);
  }

  // ------------------------------------------------------------------ I2C
  // I2C1 (and I2C2 on ESP32) and new I2C() (software): setup({sda, scl}) picks the bus; writeTo and
  // readFrom reach the simulated device at that address on those pins (simulator.ts, i2c.ts).
  function I2C(this: any) { hidden(this, "#sda", ""); hidden(this, "#scl", ""); }
  var I2CProto = I2C.prototype as any;
  I2CProto.setup = function setup(o: any) {
    if (!o || o.sda === undefined || o.scl === undefined) throw new ErrorCtor("I2C.setup: sda and scl pins are needed");
    this["#sda"] = pinName(o.sda); this["#scl"] = pinName(o.scl);
  };
  function i2cAddr(self: any, a: any) {
    if (!self["#sda"]) throw new ErrorCtor("I2C device not initialised - call setup() first");
    return typeof a === "object" && a ? Number(a.address) : Number(a);
  }
  I2CProto.writeTo = function writeTo(address: any) {
    var a = i2cAddr(this, address), rest: any[] = [];
    for (var i = 1; i < arguments.length; i++) rest.push(arguments[i]);
    host.i2cWrite(this["#sda"], this["#scl"], a, toBinaryString(rest));
  };
  I2CProto.readFrom = function readFrom(address: any, n: any) {
    var d = host.i2cRead(this["#sda"], this["#scl"], i2cAddr(this, address), Number(n));
    return E.toUint8Array(d);
  };
  G.I2C = I2C;
  G.I2C1 = new (I2C as any)();
  if (info.chip === "ESP32") G.I2C2 = new (I2C as any)();

  // ------------------------------------------------------------------ BME280 (stand-in for Espruino's module)
  // The same API as Espruino's BME280 module, talking to the chip over I2C as that module does: connect
  // writes ctrl_hum/ctrl_meas/config (x1 oversampling, normal mode) and reads the calibration; getData()
  // reads the 8 data bytes and applies the datasheet's compensation: {temp: °C, pressure: hPa, humidity: %}.
  natives.BME280 = function () {
    function BME(this: any, i2c: any, o: any) {
      var a = this.addr = o && o.addr !== undefined ? o.addr : 0x76, c: any = {}, d: any;
      this.i2c = i2c;
      i2c.writeTo(a, [0xf2, 1]); i2c.writeTo(a, [0xf4, 0x27]); i2c.writeTo(a, [0xf5, 0xa0]);
      i2c.writeTo(a, 0x88); d = i2c.readFrom(a, 24);
      function u(k: number) { return d[k] | (d[k + 1] << 8); }
      function s16(k: number) { var v = u(k); return v > 32767 ? v - 65536 : v; }
      c.T1 = u(0); c.T2 = s16(2); c.T3 = s16(4); c.P1 = u(6);
      for (var k = 2; k <= 9; k++) c["P" + k] = s16(6 + 2 * (k - 1));
      i2c.writeTo(a, 0xa1); c.H1 = i2c.readFrom(a, 1)[0];
      i2c.writeTo(a, 0xe1); d = i2c.readFrom(a, 7);
      c.H2 = s16(0); c.H3 = d[2]; c.H4 = (d[3] << 4) | (d[4] & 15); c.H5 = (d[5] << 4) | (d[4] >> 4); c.H6 = d[6] > 127 ? d[6] - 256 : d[6];
      this.cal = c;
    }
    var P = BME.prototype as any;
    P.readRawData = function readRawData() {
      this.i2c.writeTo(this.addr, 0xf7);
      var d = this.i2c.readFrom(this.addr, 8);
      this.pres_raw = (d[0] << 12) | (d[1] << 4) | (d[2] >> 4);
      this.temp_raw = (d[3] << 12) | (d[4] << 4) | (d[5] >> 4);
      this.hum_raw = (d[6] << 8) | d[7];
    };
    P.getData = function getData() {
      var c = this.cal, v1: number, v2: number, t: number, p = 0, h: number;
      this.readRawData();
      v1 = (this.temp_raw / 16384 - c.T1 / 1024) * c.T2;
      v2 = (this.temp_raw / 131072 - c.T1 / 8192) * (this.temp_raw / 131072 - c.T1 / 8192) * c.T3;
      t = v1 + v2;
      v1 = t / 2 - 64000;
      v2 = v1 * v1 * c.P6 / 32768 + v1 * c.P5 * 2;
      v2 = v2 / 4 + c.P4 * 65536;
      v1 = (c.P3 * v1 * v1 / 524288 + c.P2 * v1) / 524288;
      v1 = (1 + v1 / 32768) * c.P1;
      if (v1 !== 0) {
        p = (1048576 - this.pres_raw - v2 / 4096) * 6250 / v1;
        p += (c.P9 * p * p / 2147483648 + p * c.P8 / 32768 + c.P7) / 16;
      }
      h = t - 76800;
      h = (this.hum_raw - (c.H4 * 64 + c.H5 / 16384 * h)) * (c.H2 / 65536 * (1 + c.H6 / 67108864 * h * (1 + c.H3 / 67108864 * h)));
      h = h * (1 - c.H1 * h / 524288);
      return { temp: t / 5120, pressure: p / 100, humidity: h < 0 ? 0 : h > 100 ? 100 : h };
    };
    return { connect: function connect(i2c: any, o: any) { return new (BME as any)(i2c, o); } };
  };

  // ------------------------------------------------------------------ host entry points
  return {
    drain: drain,
    fire: function (fn: any, args: any[]) { callOne(undefined, fn, args || []); },
    watchFire: watchFire,
    report: report,
    sockEvent: sockEvent,
    wifiEvent: wifiEvent,
    wifiDone: wifiDone,
    boot: function () {
      var l = listenersOf(E, "init");
      if (l) callListeners(E, l, []);
      if (typeof G.onInit === "function") callOne(undefined, G.onInit, []);
    },
    evalModule: evalModule,
    modules: modules,
    natives: natives,
    sockets: sockets,
    globalNames: function () { return Object.getOwnPropertyNames(G); },
    globalValue: function (k: string) {
      var d = Object.getOwnPropertyDescriptor(G, k);
      return d && "value" in d ? d.value : undefined;
    },
    platformObjects: function () { return [E, G.process, G.console, G.Modules, PinProto, SocketProto, OWProto, I2CProto]; },
  };
}

/** Run in the board's context after the prelude: removes what Espruino does not have. */
export const REMOVE_NON_ESPRUINO = `(function () {
  var g = globalThis;
  ["Map", "Set", "WeakMap", "WeakSet", "WeakRef", "FinalizationRegistry", "Symbol", "Proxy", "Reflect",
   "BigInt", "BigInt64Array", "BigUint64Array", "SharedArrayBuffer", "Atomics", "WebAssembly", "Intl",
   "AggregateError", "TextEncoder", "TextDecoder", "queueMicrotask", "setImmediate", "clearImmediate",
   "Buffer", "structuredClone"].forEach(function (n) { delete g[n]; });
  delete Array.from;
  delete Object.getPrototypeOf(Uint8Array).from;
  delete Number.isInteger;
  delete Math.trunc;
  // Espruino 2v2x's String indexOf (and so includes, and replace with a string
  // pattern) counts a needle whose start matches at the very end of the string
  // as found: "abc".indexOf("cd") is 2, "abc".replace("cd", "X") is "abX"
  // (jswrap_string_indexOf compares with equalAtEndOfString). Board code must
  // not rely on the standard answer, so the simulator gives Espruino's.
  // Object.assign throws on a number, boolean or string source ("Expecting Object, got Number"),
  // where JavaScript engines skip or spread them; null and undefined are skipped as usual.
  var stdAssign = Object.assign;
  Object.defineProperty(Object, "assign", { writable: true, configurable: true, value: function (target) {
    for (var i = 1; i < arguments.length; i++) {
      var t = typeof arguments[i];
      if (t == "number" || t == "boolean" || t == "string") throw new TypeError("Expecting Object, got " + (t == "string" ? "String" : "Number"));
    }
    return stdAssign.apply(Object, arguments);
  } });
  var SP = String.prototype;
  function espIndexOf(needle, from) {
    var h = String(this), n = String(needle), i = from > 0 ? Math.floor(from) : 0;
    if (n.length > h.length) return -1;
    for (; i < h.length || (i == h.length && !n.length); i++) {
      var k = 0;
      while (k < n.length && i + k < h.length && h.charCodeAt(i + k) == n.charCodeAt(k)) k++;
      if (k == n.length || i + k == h.length) return i;
    }
    return -1;
  }
  var stdReplace = SP.replace;
  function espReplace(pattern, by) {
    if (pattern instanceof RegExp || typeof by == "function") return stdReplace.call(this, pattern, by);
    var h = String(this), p = String(pattern), i = espIndexOf.call(h, p);
    return i < 0 ? h : h.substr(0, i) + String(by) + h.substr(i + p.length);
  }
  Object.defineProperty(SP, "indexOf", { value: espIndexOf, writable: true, configurable: true });
  Object.defineProperty(SP, "includes", { value: function (n, f) { return espIndexOf.call(this, n, f) >= 0; }, writable: true, configurable: true });
  Object.defineProperty(SP, "replace", { value: espReplace, writable: true, configurable: true });
})();`;
