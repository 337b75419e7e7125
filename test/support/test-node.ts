// Per-host libvirt test-driver nodes: each simulated host gets its own
// domains (names and UUIDs derived from the host), so several agents on the
// in-process test driver never report the same VM.
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export function domainUuid(hostIndex: number, vmIndex: number): string {
  const host = String(hostIndex).padStart(4, "0");
  const vm = String(vmIndex).padStart(12, "0");
  return `${host}0000-0000-4000-8000-${vm}`;
}

/** Writes a test-driver node file with `vmCount` running domains `<hostId>-vm<N>`; returns its URI. */
export function testNodeUri(directory: string, hostId: string, hostIndex: number, vmCount: number): string {
  const domains = Array.from({ length: vmCount }, (_, position) => `
  <domain type="test">
    <name>${hostId}-vm${position + 1}</name>
    <uuid>${domainUuid(hostIndex, position + 1)}</uuid>
    <memory>65536</memory>
    <vcpu>1</vcpu>
    <os><type>hvm</type></os>
  </domain>`).join("");
  const path = join(directory, `${hostId}-node.xml`);
  writeFileSync(path, `<node>
  <cpu><mhz>2000</mhz><model>i686</model><nodes>1</nodes><sockets>1</sockets><cores>2</cores><threads>1</threads></cpu>
  <memory>8388608</memory>${domains}
</node>
`);
  return `test://${path}`;
}
