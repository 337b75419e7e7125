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
