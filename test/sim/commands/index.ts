// Every scenario command by name. A later issue adds a command by adding its file and one line here.
import { advance } from "./advance.js";
import { agentJournal } from "./agent-journal.js";
import { agentKill } from "./agent-kill.js";
import { agentRestart } from "./agent-restart.js";
import { agentStop } from "./agent-stop.js";
import { blockjob } from "./blockjob.js";
import { burst } from "./burst.js";
import { check } from "./check.js";
import { clock } from "./clock.js";
import { command } from "./command.js";
import { config } from "./config.js";
import { cut } from "./cut.js";
import { expect } from "./expect.js";
import { failNextMigration } from "./fail-next-migration.js";
import { fence } from "./fence.js";
import { guest } from "./guest.js";
import { heal } from "./heal.js";
import { host } from "./host.js";
import { job } from "./job.js";
import { kill } from "./kill.js";
import { libvirt } from "./libvirt.js";
import { loseAck } from "./lose-ack.js";
import { maintenance } from "./maintenance.js";
import { net } from "./net.js";
import { partition } from "./partition.js";
import { pause } from "./pause.js";
import { power } from "./power.js";
import { redeliver } from "./redeliver.js";
import { restart } from "./restart.js";
import { resume } from "./resume.js";
import type { SimCommand } from "./sim-command.js";
import { stop } from "./stop.js";
import { storage } from "./storage.js";
import { streamBreak } from "./stream-break.js";
import { transferPrimary } from "./transfer-primary.js";
import { uncut } from "./uncut.js";
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
  job,
  failNextMigration,
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
  blockjob,
  storage,
  agentJournal,
  expect,
  check,
];

export const commands: ReadonlyMap<string, SimCommand> = new Map(all.map((entry) => [entry.name, entry]));
