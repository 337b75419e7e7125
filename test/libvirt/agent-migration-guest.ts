// A TCG guest whose live migration takes as long as a test wants. A guest that boots nothing has
// only zero pages, which QEMU sends as flags: bandwidth limits barely slow it (~1 s at 1 MiB/s).
// This one boots a 100-byte boot sector that switches to 32-bit protected mode, fills 40 MiB of
// guest memory (1 MiB..41 MiB) with a non-zero pattern, writes "R" to its serial port (a file: the
// test's signal that the memory is filled) and halts (no CPU burnt). A migration then sends ~40 MiB:
// about 5 s at 8 MiB/s, 40 s at 1 MiB/s. The boot disk is read-only, so libvirt considers the
// migration safe without VIR_MIGRATE_UNSAFE.
import { existsSync, readFileSync, writeFileSync } from "node:fs";

/**
 * The boot sector's code, assembled with GNU as (`as --32`, `ld -Ttext 0x7c00 --oformat binary`):
 *   cli; xor ax,ax; mov ds,ax; in al,0x92; or al,2; out 0x92,al          (fast A20)
 *   lgdt [gdtr]; mov eax,cr0; or eax,1; mov cr0,eax; jmp 0x08:pm          (flat protected mode)
 *   pm: mov ax,0x10; mov ds,ax; mov es,ax; cld; mov eax,0x5a5a5a5a
 *       mov edi,0x100000; mov ecx,40 MiB/4; rep stosd                      (fill)
 *       mov dx,0x3f8; mov al,'R'; out dx,al                                (COM1: filled)
 *   idle: hlt; jmp idle
 *   gdt: null, code 0x00cf9a000000ffff, data 0x00cf92000000ffff; gdtr: limit 23, base gdt
 */
const bootSectorCode =
  "fa31c08ed8e4920c02e692660f0116607c0f20c06683c8010f22c066ea237c0000080066b810008ed88ec0fcb85a5a5a5abf00001000b90000a000f3ab66baf803b052eef4ebfd900000000000000000ffff0000009acf00ffff00000092cf001700487c";

/** Writes the raw boot image (1 MiB: SeaBIOS does not boot a 64 KiB virtio disk; boot signature at 510) to `path`. */
export function writeFilledGuestBootImage(path: string): void {
  const image = Buffer.alloc(1024 * 1024);
  Buffer.from(bootSectorCode, "hex").copy(image, 0);
  image[510] = 0x55;
  image[511] = 0xaa;
  writeFileSync(path, image);
}

/** Whether the guest whose serial port writes to `serialPath` has filled its memory. */
export function guestFilledMemory(serialPath: string): boolean {
  return existsSync(serialPath) && readFileSync(serialPath, "latin1").includes("R");
}

/** A 64 MiB, 1 vCPU TCG guest booting `bootImagePath` (read-only virtio disk), its COM1 written to `serialPath`. */
export function filledGuestXml(options: { name: string; uuid: string; bootImagePath: string; serialPath: string }): string {
  return `<domain type='qemu'>
  <name>${options.name}</name>
  <uuid>${options.uuid}</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='${options.bootImagePath}'/>
      <target dev='vda' bus='virtio'/>
      <readonly/>
    </disk>
    <serial type='file'><source path='${options.serialPath}'/><target port='0'/></serial>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>`;
}
