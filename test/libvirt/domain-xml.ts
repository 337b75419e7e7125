// Domain definitions used by the libvirt tests.

/** A minimal domain for libvirt's test driver (it only needs name, uuid, memory, vcpus and an os type). */
export function testDriverDomainXml(name: string, uuid: string): string {
  return `<domain type='test'>
  <name>${name}</name>
  <uuid>${uuid}</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
</domain>`;
}

/**
 * A 64 MiB, 1 vCPU TCG (type='qemu') guest per LAB.md: no graphics, no video, no balloon; it boots
 * nothing, which is enough for lifecycle and migration. With `diskPath`, one qcow2 disk as vda.
 */
export function qemuDomainXml(options: { name: string; uuid: string; diskPath?: string }): string {
  const disk =
    options.diskPath === undefined
      ? ""
      : `<disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='${options.diskPath}'/>
      <target dev='vda' bus='virtio'/>
    </disk>`;
  return `<domain type='qemu'>
  <name>${options.name}</name>
  <uuid>${options.uuid}</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    ${disk}
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>`;
}

/** One disk of a live domain XML as libvirt writes it: a backing chain, and a mirror while a copy or active commit runs. */
export interface LiveDiskXml {
  target: string;
  /** Top image first. */
  chain: readonly string[];
  mirror?: { job: string; file: string; ready: boolean };
}

function backingStoreXml(chain: readonly string[], indent: string): string {
  if (chain.length === 0) return `${indent}<backingStore/>`;
  const [file, ...rest] = chain;
  return `${indent}<backingStore type='file' index='${chain.length}'>
${indent}  <format type='qcow2'/>
${indent}  <source file='${escapeXml(file!)}'/>
${backingStoreXml(rest, `${indent}  `)}
${indent}</backingStore>`;
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/'/g, "&apos;").replace(/"/g, "&quot;");
}

/**
 * The live XML of a running domain with backing chains, shaped like libvirt 9's (nested
 * <backingStore>, <mirror> during copy and active commit). The simulator serves it, so the agent's
 * production parser (agent/domain-disks.ts) reads the same shape in simulation as in the lab.
 */
export function liveDomainXml(options: { name: string; uuid: string; disks: readonly LiveDiskXml[] }): string {
  const disks = options.disks.map((disk) => {
    const [top, ...backing] = disk.chain;
    const source = top === undefined ? "" : `\n      <source file='${escapeXml(top)}' index='${disk.chain.length + 1}'/>\n${backingStoreXml(backing, "      ")}`;
    const mirror =
      disk.mirror === undefined
        ? ""
        : `\n      <mirror type='file' job='${disk.mirror.job}'${disk.mirror.ready ? " ready='yes'" : ""}>\n        <format type='qcow2'/>\n        <source file='${escapeXml(disk.mirror.file)}'/>\n      </mirror>`;
    return `    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>${source}${mirror}
      <target dev='${disk.target}' bus='virtio'/>
    </disk>`;
  });
  return `<domain type='qemu' id='1'>
  <name>${escapeXml(options.name)}</name>
  <uuid>${options.uuid}</uuid>
  <memory unit='KiB'>65536</memory>
  <vcpu placement='static'>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
${disks.join("\n")}
  </devices>
</domain>`;
}
