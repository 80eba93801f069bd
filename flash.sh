#!/usr/bin/env bash
# Flash mote onto an Espruino board:
#   ./flash.sh --board esp32-devkitc --port /dev/ttyUSB0 --config my.json [--modules DIR] [--user FILE] [--remote] [--dry-run]
# 1. builds firmware/mote.js if it is missing (npm run build)
# 2. with --remote, or when the config has "remote": puts a device key into the config (a new random one
#    unless the config has remote.key; remote.confirm defaults to 60) and keeps a copy, mode 600, in
#    ${XDG_CONFIG_HOME:-~/.config}/mote/keys/<client_id>.key, where `mote config` / `mote ota` find it
#    validates the config (the key included) against the board (check-config; writes .build/flash/<board>/)
# 3. with the espruino tool (npm devDependency): resets the interpreter, writes Storage files
#    (layout: docs/remote-protocol.md, "Storage layout and boot guard"): .bootcde = firmware/boot.js (the
#    boot guard), mote.a = firmware/mote.js (the runtime it runs), mote-info (the identity message) and,
#    when the config has "remote", mote-remote, mote-remote-cmd, mote-remote-cfg, mote-remote-ota,
#    mote-remote-files and mote-swap (updates of files beside the bundle); mote.json = the config (minified),
#    mote.board = the board's pin table for the on-board validator, and the Espruino modules the config
#    needs (DHT22.js, DS18B20.js from --modules DIR, e.g. downloaded from espruino.com/modules; without
#    them it warns: they must already be in the board's Storage), the MQTT client's cold parts
#    (mote-mqtt-*, no TLS part on boards without TLS), the feature modules the config uses (mote-diag
#    unless diag_every is 0, mote-ha and mote-ha-announce with "homeassistant", mote-sleep with "sleep"),
#    and with --user FILE your code as mote-user.js with mote-script (its API); then starts the boot state
#    afresh (slot a confirmed, the last command counter kept; an older update's files erased), prints what
#    Storage holds (checked against the local sizes) and restarts with load(), which runs the new boot code.
# --port takes a serial device or tcp://host:port (Espruino's telnet console, e.g. Espruino on Linux
# started with --telnet, port 2323). --dry-run validates and prints the exact commands, sending nothing.
# MOTE_FLASH_TIMEOUT (seconds, default 180) bounds the upload; MOTE_FIRMWARE replaces firmware/mote.js.
set -uo pipefail

prog=flash
die() { echo "$prog: error: $*" >&2; exit 1; }
usage() {
  cat <<EOF
usage: ./flash.sh --board BOARD --port PORT --config FILE [--modules DIR] [--user FILE] [--remote] [--dry-run]
  --board   one of: $(boards)
  --port    serial port (/dev/ttyUSB0, /dev/ttyACM0, COM3) or tcp://host:port
  --config  the mote.json to upload (see src/device/config.schema.json, boards/examples/)
  --modules folder with Espruino modules the config needs (DHT22.js, DS18B20.js, BME280.js)
  --user    your own JavaScript, run after start as mote-user.js (README: "Your own code")
  --remote  remote management (mote config, mote ota): a new device key in the config, a copy kept locally
  --dry-run validate and print the commands without touching the port
EOF
}

cd "$(dirname "$0")" || exit 1
root=$(pwd)
boards() { (cd boards && ls -1 *.json | grep -v '^board\.schema\.json$' | sed 's/\.json$//' | paste -sd' ' -); }

board="" port="" config="" modules="" user="" dry=0 remote=0
while [ $# -gt 0 ]; do
  case "$1" in
    --board|--port|--config|--modules|--user)
      [ $# -ge 2 ] && [ "${2#--}" = "$2" ] || die "$1 needs a value"
      case "$1" in --board) board=$2 ;; --port) port=$2 ;; --config) config=$2 ;; --modules) modules=$2 ;; --user) user=$2 ;; esac
      shift 2 ;;
    --board=*) board=${1#*=}; shift ;;
    --port=*) port=${1#*=}; shift ;;
    --config=*) config=${1#*=}; shift ;;
    --modules=*) modules=${1#*=}; shift ;;
    --user=*) user=${1#*=}; shift ;;
    --dry-run|-n) dry=1; shift ;;
    --remote) remote=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

# --- arguments -----------------------------------------------------------------------------------
[ -n "$board" ] || { usage >&2; die "no --board given (one of: $(boards))"; }
[ -f "boards/$board.json" ] && [ "$board" != board.schema ] || die "unknown board '$board' (one of: $(boards))"
[ -n "$port" ] || { usage >&2; die "no --port given: name the board's serial port (e.g. /dev/ttyUSB0) or tcp://host:port"; }
[ -n "$config" ] || { usage >&2; die "no --config given: the JSON config to upload (examples in boards/examples/)"; }
# the config path is relative to where the user ran us, not to the repository
case "$config" in /*) ;; *) config="$OLDPWD/$config" ;; esac
[ -f "$config" ] || die "config file not found: $config"
if [ -n "$modules" ]; then
  case "$modules" in /*) ;; *) modules="$OLDPWD/$modules" ;; esac
  [ -d "$modules" ] || die "--modules: no such folder: $modules"
fi

if [ -n "$user" ]; then
  case "$user" in /*) ;; *) user="$OLDPWD/$user" ;; esac
  [ -f "$user" ] || die "--user: file not found: $user"
fi

if [[ "$port" == tcp://* ]]; then
  [[ "$port" =~ ^tcp://[A-Za-z0-9._-]+(:[0-9]{1,5})?$ ]] || die "bad --port $port: expected tcp://host or tcp://host:port"
elif [[ "$port" == *.js* ]]; then
  die "bad --port $port: the espruino tool does not accept a port name containing .js"
elif [ ! -e "$port" ] && [[ "$port" != COM* ]]; then
  found=$(ls /dev/ttyUSB* /dev/ttyACM* /dev/cu.usb* 2>/dev/null | paste -sd' ' -)
  msg="port $port does not exist: is the board plugged in (and the USB-serial driver loaded)? serial ports now: ${found:-none}"
  if [ $dry = 1 ]; then echo "$prog: warning: $msg (dry run: going on)"; else die "$msg"; fi
fi

node -e 1 2>/dev/null || die "node is not installed (needed for the build and the espruino tool)"
[ -d node_modules/espruino ] || die "the espruino tool is missing: run npm install (or npm ci) first"

out=".build/flash/$board"
fw="${MOTE_FIRMWARE:-firmware/mote.js}"  # MOTE_FIRMWARE: another build of the boot code (tests)
show() { printf '$'; printf ' %q' "$@"; printf '\n'; }
run() { show "$@"; "$@"; }
storage_bytes=$(node -p "require('./boards/$board.json').storage_bytes") || die "cannot read boards/$board.json"
baud=$(node -p "require('./boards/$board.json').baud")
bname=$(node -p "require('./boards/$board.json').name")

if [ $dry = 1 ]; then
  echo "$prog: dry run for $board ($bname) on $port with $config: the config is validated, nothing is sent"
else
  echo "$prog: $board ($bname) on $port with $config"
fi

# --- 1. build ------------------------------------------------------------------------------------
if [ ! -f "$fw" ] || [ ! -f firmware/boot.js ]; then
  if [ $dry = 1 ]; then
    echo "# $fw is missing: a real run builds it first"
    show npm run build
  else
    run npm run build || die "the build failed (see above)"
    [ -f "$fw" ] || die "the build did not produce $fw"
  fi
fi

# --- 2. device key and validation -----------------------------------------------------------------
check=.build/host/src/tools/check-config.js
keyjs=.build/host/src/tools/mote/flash-key.js
if [ ! -f "$check" ] || [ ! -f "$keyjs" ]; then
  run npx tsc -p tsconfig.host.json >&2 || { [ -f "$check" ] && [ -f "$keyjs" ]; } || die "could not compile check-config"
fi
mkdir -p "$out" || die "cannot create $out"
# With remote management the config checked and uploaded is the user's plus the device key.
checked=$config client_id=""
prep=$(node "$keyjs" prepare "$config" "$out/config.json" $([ $remote = 1 ] && echo --remote)) || die "nothing was uploaded"
if [[ "$prep" == remote\ * ]]; then
  rest=${prep#remote }; key_from=${rest##* }; client_id=${rest% *}
  checked="$out/config.json"
  if [ "$key_from" = generated ]; then
    echo "$prog: remote management for $client_id: a new device key is put into the config ($checked)"
  else
    echo "$prog: remote management for $client_id: with the device key the config has"
  fi
fi
show node "$check" "$checked" --board "$board" --out "$out"
result=$(node "$check" "$checked" --board "$board" --out "$out" 2>&1); rc=$?
if [ $rc != 0 ]; then
  echo "$result" | sed 's/^/  /' >&2
  die "$config is not a valid config for $board (nothing was uploaded)"
fi
echo "$result"

# What goes into Storage beside the config: the boot guard (.bootcde) and the runtime it runs (mote.a),
# the MQTT client's cold parts (the runtime requires them from Storage when it needs them,
# src/session/parts.ts; a board without TLS gets no TLS part), and the feature modules the config uses.
guard=firmware/boot.js
has_tls=$(node -p "!!require('./boards/$board.json').tls")
mods=()  # name:file
for f in "$(dirname "$fw")"/mote-mqtt-*.js; do
  p=$(basename "$f" .js)
  [ -f "$f" ] && { [ "$p" != mote-mqtt-tls ] || [ "$has_tls" = true ]; } && mods+=("$p:$f")
done
has() { node -e 'const c=require(process.argv[1]);process.exit(eval(process.argv[2])?0:1)' "$root/$out/mote.json" "$1"; }
feats=(mote-info)
has 'c.diag_every!==0' && feats+=(mote-diag)
has 'c.homeassistant' && feats+=(mote-ha mote-ha-announce)
has 'c.sleep' && feats+=(mote-sleep)
has 'c.remote' && feats+=(mote-remote mote-remote-cmd mote-remote-cfg mote-remote-ota mote-remote-files mote-swap)
[ -n "$user" ] && feats+=(mote-script)
for p in "${feats[@]}"; do mods+=("$p:firmware/$p.js"); done
names=".bootcde mote.a mote.json mote.board ${mods[*]%%:*}"

list=$(printf '"%s",' $names)
cat > "$out/finish.js" <<EOF
var s=require("Storage"),a=s.readJSON("mote.s0",1)||{g:0},b=s.readJSON("mote.s1",1)||{g:0};
["mote.s0","mote.s1","mote.b","mote.ota","mote.prev"].concat(s.list(/\.new\$/),s.list(/\.old\$/)).forEach(function(n){s.erase(n);});
s.write("mote.s1",JSON.stringify({g:1,n:(b.g>a.g?b:a).n||0}));
print("MOTE-FLASH",[${list%,}].map(function(n){var d=s.read(n);return d===undefined?-1:d.length;}).join(" "));
setTimeout(load,500);
EOF

size() { wc -c < "$1" | tr -d ' '; }
if [ -f "$fw" ]; then
  total=$(( $(size "$fw") + $(size "$out/mote.json") + $(size "$out/mote.board") ))
  total=$(( total + $(size "$guard") ))
  for m in "${mods[@]}"; do total=$(( total + $(size "${m#*:}") )); done
  [ -n "$user" ] && total=$(( total + $(size "$user") ))
  [ "$total" -le "$storage_bytes" ] ||
    die "$fw + config need $total bytes of Storage but $board has $storage_bytes"
fi

if [ -n "$client_id" ]; then
  if [ $dry = 1 ]; then
    echo "# a real run keeps the device key for $client_id in $(node "$keyjs" path "$client_id") (mode 600), where mote finds it"
  else
    keyfile=$(node "$keyjs" save "$out/mote.json") || die "nothing was uploaded"
    echo "$prog: device key for $client_id kept in $keyfile (mode 600): mote config / mote ota find it there by client id"
  fi
fi

# --- 3. upload and restart -----------------------------------------------------------------------
extra=()
for p in "${parts[@]}"; do extra+=(--storage "$p:$(dirname "$fw")/$p.js"); done
while read -r mod; do
  [ -n "$mod" ] || continue
  if [ -n "$modules" ] && [ -f "$modules/$mod.js" ]; then
    cp "$modules/$mod.js" "$out/$mod.js"
    extra+=(--storage "$mod:$out/$mod.js")
  else
    echo "$prog: warning: the config uses Espruino's $mod module: it is not uploaded (no $mod.js in --modules DIR), so it must already be in the board's Storage"
  fi
done < "$out/modules"
for m in "${mods[@]}"; do extra+=(--storage "$m"); done
[ -n "$user" ] && extra+=(--storage "mote-user.js:$user")
cmd=(npx espruino --no-ble -b "$baud" -p "$port" --board "$out/espruino-board.json"
  --storage "mote.json:$out/mote.json" --storage "mote.board:$out/mote.board" "${extra[@]}" --storage "mote.a:$fw"
  --storage ".bootcde:$guard" "$out/finish.js")
if [ $dry = 1 ]; then
  show "${cmd[@]}"
  echo "# then the board prints 'MOTE-FLASH <sizes>' (compared with the local files) and restarts with load()"
  exit 0
fi

log="$out/upload.log"
show "${cmd[@]}"
tmo=${MOTE_FLASH_TIMEOUT:-180}
if command -v timeout >/dev/null; then
  timeout "$tmo" "${cmd[@]}" 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}
else
  "${cmd[@]}" 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}
fi
if [[ "$port" == tcp://* ]]; then
  hint="is the board on the network, with its console on that TCP port (23 by default; 2323 for Espruino on Linux with --telnet)?"
else
  hint="is Espruino running on it ($baud baud), and is no other program (Web IDE, screen, minicom) using $port?"
fi
[ $rc = 124 ] && die "no answer from the board on $port within ${tmo}s: $hint"
grep -q "ECONNREFUSED" "$log" && die "could not connect to $port: connection refused: $hint"
grep -q "Unable to connect" "$log" && die "could not connect to $port: $hint"
[ $rc = 0 ] || die "the espruino tool failed (exit $rc, output in $log): $hint"
got=$(grep -o 'MOTE-FLASH [-0-9 ]*' "$log" | tail -1 | cut -d' ' -f2- | sed 's/ *$//')
[ -n "$got" ] || die "the board on $port did not answer (no confirmation in $log): $hint"
want="$(size "$guard") $(size "$fw") $(size "$out/mote.json") $(size "$out/mote.board")"
for m in "${mods[@]}"; do want="$want $(size "${m#*:}")"; done
[ "$got" = "$want" ] || die "upload incomplete: Storage holds ${names// //} of $got bytes, expected $want"
echo "$prog: done: $fw ($(size "$fw") bytes) is the runtime (mote.a, run by the boot guard in .bootcde), mote.json, mote.board and ${#mods[@]} modules written; the board restarted"
