// mote-user.js example: a thermostat rule. The config has a bme280 sensor "room" and a digital actuator
// "heater" (a relay); this code adds a set point (an actuator of its own, <base>/setpoint/set, echoed on
// <base>/setpoint) and switches the heater with 0.5 °C of hysteresis whenever the temperature or the set
// point changes. The heater is commanded through its own topic, so its state is echoed as usual.
//   "sensors": [{ "name": "room", "type": "bme280", "sda": "D21", "scl": "D22", "every": 30, "deadband": 0.1 }],
//   "actuators": [{ "name": "heater", "type": "digital", "pin": "D26" }]
var setpoint = 20, temp, heating;

function decide() {
  if (temp === undefined) return;
  var on = temp < setpoint - 0.5 ? true : temp > setpoint + 0.5 ? false : heating;
  if (on === heating) return;
  heating = on;
  mote.log("thermostat: " + temp + " °C, set point " + setpoint + ": heater " + (on ? "on" : "off"));
  mote.publish("heater/set", on ? "1" : "0", { qos: 1 });
}

mote.subscribe("room/temperature", function (msg) {
  temp = Number(msg);
  decide();
});

// min/max (with step and unit) make it a number in Home Assistant, a slider/box from 5 to 30 °C.
mote.actuator({
  name: "setpoint", initial: setpoint, min: 5, max: 30, step: 0.5, unit: "°C",
  set: function (msg) {
    var v = Number(msg);
    if (!(v >= 5 && v <= 30)) return false; // refused: nothing echoed
    setpoint = v;
    decide();
    return v;
  },
});
