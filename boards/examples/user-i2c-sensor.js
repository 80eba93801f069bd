// mote-user.js example: a sensor mote has no type for, read over I2C by your own code.
// Upload: ./flash.sh --board esp32-devkitc --port /dev/ttyUSB0 --config my.json --user boards/examples/user-i2c-sensor.js
// Here the chip is a BME280 at 0x77 (SDO to VCC) on D21 (SDA) / D22 (SCL), read register by register:
// its chip id (0x60 = 96), and its raw 20-bit temperature. Any I2C chip works the same way: write the
// register address, read the bytes. A read that throws (no chip) is reported on <base>/error.
var i2c = new I2C();
i2c.setup({ sda: D21, scl: D22 });
var ADDR = 0x77;

function reg(r, n) {
  i2c.writeTo(ADDR, r);
  return i2c.readFrom(ADDR, n);
}

// Wake the chip: humidity x1, then temperature and pressure x1, normal mode.
i2c.writeTo(ADDR, [0xF2, 1]);
i2c.writeTo(ADDR, [0xF4, 0x27]);

mote.sensor({ name: "chip-id", every: 3600, read: function () { return reg(0xD0, 1)[0]; } });
mote.sensor({
  name: "raw-temperature", every: 30, deadband: 100, state_class: "measurement",
  read: function () {
    var d = reg(0xFA, 3);
    return (d[0] << 12) | (d[1] << 4) | (d[2] >> 4);
  },
});
