// The user's own code (feature module mote-script), loaded when Storage holds mote-user.js (uploaded by
// `flash.sh --user FILE`). The file runs once, after the runtime has started, with one API object: the
// global `mote` (the runtime's own object; these methods are added to it):
//   mote.publish(subtopic, value, {qos, retain})   on <base>/<subtopic>; a value that is not a string is
//                                                  sent as JSON (numbers and booleans as their text)
//   mote.subscribe(subtopic, handler)              handler(message, subtopic) for <base>/<subtopic> (QoS 1;
//                                                  + and # allowed: subtopic is then the matching one)
//   mote.sensor({name, read, every, deadband, heartbeat, qos, retain, unit, device_class, state_class})
//       read() returns a value, or calls the callback it is given with one (read(function (v) {...})).
//       Published on <base>/<name> like a built-in sensor (deadband, heartbeat, sleep); listed in
//       mote.c.sensors with type "user", so `npm start` and Home Assistant show it.
//   mote.actuator({name, set, initial, qos, min, max, step, unit})   set(message) runs for each
//       <base>/<name>/set; what it returns (or the message, when it returns undefined) is echoed retained
//       on <base>/<name>; false (or an exception) refuses the command: nothing is echoed. Listed in
//       mote.c.actuators with type "user". Home Assistant shows it as a switch sending "1"/"0" (return
//       undefined, 1 or 0 so that the state echoed is one of those), or, given min and max (numbers,
//       min < max; step and unit optional), as a number sending the value as text ("21.5", "21")
//   mote.every(ms, fn), mote.after(ms, fn)         setInterval / setTimeout; return the timer id
//   mote.log(msg)                                  console line "mote: msg"
//   mote.client                                    the mote-mqtt client, for anything else
// Every exception of the user's code (loading the file, and in each function given to the API) is
// caught, logged, and published on <base>/error (QoS 1, not retained) as "mote-user.js:LINE: Error: what"
// (the line where Espruino gives it: it reports the file and line of code evaluated from Storage);
// the board stays up. An error while loading also joins the config errors (status "error").
import type { Mote } from "./mote.js";
import type { board as Board } from "../platform/board.js";

declare var global: any;

// The board's platform object, given by runtime.ts's feature() (no copy of board.ts in this bundle).
var board: typeof Board;

var FILE = "mote-user.js";

// Evaluated from the Storage string: its functions stay in flash and Espruino's errors name the file and line.
function run(src: string) { return (0, eval)(src); }

export function startScript(m: Mote, b: typeof Board) {
  board = b;
  var c = m.client, base = m.base + "/";
  function report(x: any, where: string) {
    var l = /mote-user\.js:(\d+)/.exec(x && x.stack), s = FILE + (l ? ":" + l[1] : "") + ": " + (where ? where + ": " : "") +
      (x && x.message !== undefined ? (x.name || x.type || "Error") + ": " + x.message : String(x));
    m.log(s);
    c.publish(base + "error", s, { qos: 1, retain: false });
    return s;
  }
  function guard(fn: any, where: string) {
    if (typeof fn != "function") throw new Error(where + ": not a function");
    return function (a: any, b: any, d: any) { try { return fn(a, b, d); } catch (x) { report(x, where); } };
  }
  function named(o: any, what: string) {
    var n = o && o.name, l = m.c.sensors.concat(m.c.actuators), i: number;
    if (typeof n != "string" || !n || /[\/+#]/.test(n)) throw new Error(what + ": name must be one topic level (no /, + or #)");
    for (i = 0; i < l.length; i++) if (l[i].name == n) throw new Error(what + ": " + n + " is taken");
    return n;
  }
  m.publish = function (t: string, v: any, o: any) {
    return c.publish(base + t, typeof v == "string" ? v : JSON.stringify(v), o);
  };
  m.subscribe = function (t: string, h: any) {
    h = guard(h, t);
    return c.subscribe(base + t, { qos: 1 }, function (topic: string, msg: string) { h(msg, topic.substr(base.length)); });
  };
  m.sensor = function (o: any) {
    named(o, "sensor");
    o.type = "user"; o.n = 0;
    o.r = guard(o.read, o.name);
    m.c.sensors.push(o);
    // Asleep (mote-sleep) every sensor is read once per wake instead.
    if (!m.c.sleep) board.every(m.rd, (o.every || 60) * 1000, m, o);
  };
  m.actuator = function (o: any) {
    var q = { qos: o.qos === undefined ? 1 : o.qos, retain: true }, t = base + named(o, "actuator");
    o.type = "user";
    o.v = o.initial === undefined ? "" : o.initial;
    if (typeof o.set != "function") throw new Error("actuator " + o.name + ": set is not a function");
    // What Home Assistant's number is declared with (ha-announce.ts): refused here rather than announced wrong.
    if ((o.min !== undefined || o.max !== undefined) && !(typeof o.min == "number" && typeof o.max == "number" && o.min < o.max &&
      isFinite(o.max - o.min))) throw new Error("actuator " + o.name + ": min and max must be numbers, min < max");
    if (o.step !== undefined && !(typeof o.step == "number" && o.step > 0 && isFinite(o.step))) throw new Error("actuator " + o.name + ": step must be a number > 0");
    o.r = 1; // not a built-in actuator: actuators.ts leaves its commands to us
    m.c.actuators.push(o);
    c.subscribe(t + "/set", q, function (topic: string, msg: string) {
      var v: any;
      try { v = o.set(msg); } catch (x) { v = false; report(x, o.name); }
      if (v !== false) {
        o.v = v === undefined ? msg : v;
        c.publish(t, String(o.v), q);
      }
    });
  };
  m.every = function (ms: number, f: any) { return board.every(guard(f, "every"), ms); };
  m.after = function (ms: number, f: any) { return board.after(guard(f, "after"), ms); };
  global.mote = m;
  try {
    run.call(null, board.readText(FILE)); // through .call: a bundler inlining run() would put the user's code in this scope
  } catch (x) {
    m.errors.push(report(x, ""));
  }
}
