// Every scenario command by name. A later issue adds a command by adding its file and one line here.
import { advance } from "./advance.js";
import { agentKill, agentRestart, agentStop } from "./agent.js";
import { burst } from "./burst.js";
import { check } from "./check.js";
import { clock } from "./clock.js";
import { config, host, maintenance, transferPrimary } from "./cluster.js";
import type { SimCommand } from "./command.js";
import { command, redeliver } from "./command-inject.js";
import { cut, uncut } from "./cut.js";
import { expect } from "./expect.js";
import { fence } from "./fence.js";
import { guest } from "./guest.js";
import { heal } from "./heal.js";
import { kill } from "./kill.js";
import { libvirt } from "./libvirt.js";
import { net } from "./net.js";
import { partition } from "./partition.js";
import { pause, resume } from "./pause.js";
import { power } from "./power.js";
import { restart } from "./restart.js";
import { stop } from "./stop.js";
import { loseAck, streamBreak } from "./stream.js";
import { vm } from "./vm.js";

const all: readonly SimCommand[] = [
  advance,
  partition,
  heal,
  cut,
  uncut,
  kill,
  restart,
  stop,
  pause,
  resume,
  agentKill,
  agentRestart,
  agentStop,
  power,
  vm,
  transferPrimary,
  config,
  maintenance,
  host,
  net,
  guest,
  libvirt,
  burst,
  streamBreak,
  loseAck,
  command,
  redeliver,
  fence,
  clock,
  expect,
  check,
];

export const commands: ReadonlyMap<string, SimCommand> = new Map(all.map((entry) => [entry.name, entry]));
