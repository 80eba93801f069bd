// The `mote` command (bin/mote.js): one host tool, one module per subcommand under src/tools/mote/.
// Each subcommand module exports run(argv) -> exit code; shared options are parsed by options.ts.

const COMMANDS: { [name: string]: { module: string; help: string } } = {
  config: { module: "./mote/config.js", help: "config get | config push FILE: read or change a board's config over MQTT" },
  ota: { module: "./mote/ota.js", help: "ota [--bundle firmware/mote.js] | ota --user FILE: update a board's firmware and modules, or its own code, over MQTT" },
  monitor: { module: "./mote/monitor.js", help: "monitor [--port 8080]: a web page showing every board on the broker" },
  ls: { module: "./mote/ls.js", help: "ls [--json]: every board on the broker, as a table or JSON lines" },
};

export function usage(): string {
  return "usage: mote <command> --broker URL [options]\n\ncommands:\n" +
    Object.keys(COMMANDS).map((k) => "  " + k.padEnd(8) + COMMANDS[k].help).join("\n") +
    "\n\ncommon options:\n" +
    "  --broker URL        mqtt://host:port or mqtts://host:port (user:password@ in the URL, or the flags below)\n" +
    "  --username U, --password P\n" +
    "  --device CLIENT_ID  the board (its MQTT client id)\n" +
    "  --key SECRET | --key-file F   the board's device key (default: the one flash.sh kept for that client id)\n" +
    "  --help              this text, or a command's own with `mote <command> --help`\n";
}

export async function main(argv: string[]): Promise<number> {
  const name = argv[0];
  if (!name || name == "--help" || name == "-h" || name == "help") {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write("mote: unknown command " + JSON.stringify(name) + "\n\n" + usage());
    return 2;
  }
  let mod: { run(argv: string[]): Promise<number> };
  try {
    mod = await import(cmd.module);
  } catch (e) {
    process.stderr.write("mote " + name + ": not available in this build (" + (e as Error).message + ")\n");
    return 2;
  }
  try {
    return await mod.run(argv.slice(1));
  } catch (e) {
    process.stderr.write("mote " + name + ": " + ((e as Error).message || String(e)) + "\n");
    return 1;
  }
}
