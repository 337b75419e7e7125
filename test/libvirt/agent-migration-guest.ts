// A TCG guest whose live migration takes as long as a test wants. A guest that boots nothing has
// only zero pages, which QEMU sends as flags: bandwidth limits barely slow it (~1 s at 1 MiB/s).
// This one boots a 108-byte boot sector that switches to 32-bit protected mode, fills 40 MiB of
// guest memory (1 MiB..41 MiB) with a non-zero pattern once, then rewrites the first 512 KiB of it
// forever. So a migration must send ~40 MiB, and it converges only when 512 KiB fits in QEMU's
// default downtime limit (300 ms), i.e. above ~1.7 MiB/s:
//   8 MiB/s  -> about 5 s, then completes;   1 MiB/s -> never completes (until aborted).
// The boot disk is read-only, so libvirt considers the migration safe without VIR_MIGRATE_UNSAFE.
import { writeFileSync } from "node:fs";

/**
 * The boot sector's code, assembled with GNU as (`as --32`, `ld -Ttext 0x7c00 --oformat binary`):
 *   cli; xor ax,ax; mov ds,ax; in al,0x92; or al,2; out 0x92,al          (fast A20)
 *   lgdt [gdtr]; mov eax,cr0; or eax,1; mov cr0,eax; jmp 0x08:pm          (flat protected mode)
 *   pm: mov ax,0x10; mov ds,ax; mov es,ax; cld; mov eax,0x5a5a5a5a
 *       mov edi,0x100000; mov ecx,40 MiB/4; rep stosd                      (fill once)
 *   dirty: inc eax; mov edi,0x100000; mov ecx,512 KiB/4; rep stosd; jmp dirty
 *   gdt: null, code 0x00cf9a000000ffff, data 0x00cf92000000ffff; gdtr: limit 23, base gdt
 */
const bootSectorCode =
  "fa31c08ed8e4920c02e692660f0116687c0f20c06683c8010f22c066ea237c0000080066b810008ed88ec0fcb85a5a5a5abf00001000b90000a000f3ab40bf00001000b900000200f3abebf18d7426000000000000000000ffff0000009acf00ffff00000092cf001700507c";

/** Writes the raw boot image (1 MiB: SeaBIOS does not boot a 64 KiB virtio disk; boot signature at 510) to `path`. */
export function writeDirtyingBootImage(path: string): void {
  const image = Buffer.alloc(1024 * 1024);
  Buffer.from(bootSectorCode, "hex").copy(image, 0);
  image[510] = 0x55;
  image[511] = 0xaa;
  writeFileSync(path, image);
}

/** A 64 MiB, 1 vCPU TCG guest booting `bootImagePath` (read-only virtio disk). */
export function dirtyingGuestXml(options: { name: string; uuid: string; bootImagePath: string }): string {
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
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>`;
}
