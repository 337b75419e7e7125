// Which process opened a loopback TCP connection, from the kernel's socket tables. The replicas
// must share one address book (the cluster id is derived from --peers), so the fault proxy in
// front of a replica cannot tell its callers apart by port; it asks the kernel instead.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

const loopbackHex = "0100007F";

/** The inode of the socket whose local end is 127.0.0.1:localPort and remote end 127.0.0.1:remotePort. */
export function loopbackSocketInode(localPort: number, remotePort: number): string | null {
  const local = `${loopbackHex}:${localPort.toString(16).toUpperCase().padStart(4, "0")}`;
  const remote = `${loopbackHex}:${remotePort.toString(16).toUpperCase().padStart(4, "0")}`;
  let table: string;
  try {
    table = readFileSync("/proc/net/tcp", "utf8");
  } catch {
    return null;
  }
  for (const line of table.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === local && fields[2] === remote) return fields[9] ?? null;
  }
  return null;
}

/** Whether process `pid` holds the socket `inode` among its open files. */
export function processHoldsSocket(pid: number, inode: string): boolean {
  const wanted = `socket:[${inode}]`;
  let descriptors: string[];
  try {
    descriptors = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const descriptor of descriptors) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${descriptor}`) === wanted) return true;
    } catch {
      // The descriptor closed while we looked.
    }
  }
  return false;
}

/**
 * What connectingProcess says when no process holds the connecting end any more: it closed, or
 * its process died (a kill -9 between connect and accept), before the connection was looked at.
 */
export const orphanedConnection = "(orphaned)";

/**
 * The name of the candidate process that connected from `clientPort` to `serverPort` on loopback,
 * orphanedConnection when no process holds that end any more, or null when a process outside the
 * candidates holds it.
 */
export function connectingProcess(clientPort: number, serverPort: number, candidates: ReadonlyMap<number, string>): string | null {
  const inode = loopbackSocketInode(clientPort, serverPort);
  // The kernel lists a closed socket until it is gone with inode 0 (no file holds it).
  if (inode === null || inode === "0") return orphanedConnection;
  for (const [pid, name] of candidates) {
    if (processHoldsSocket(pid, inode)) return name;
  }
  return null;
}
