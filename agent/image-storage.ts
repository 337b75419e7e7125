// Production ImageStorage: an image's storage answers when stat() on its file or block device
// returns, with the file or without it: a missing file (ENOENT) is the storage's answer, reported
// as the chain libvirt has; only a storage that does not answer (EIO, ESTALE, a hung mount caught
// by the sync's timeout) makes the sync retry. Network images (rbd:pool/image, iscsi...) are
// reached by QEMU itself and are not checked here.
import { stat } from "node:fs/promises";
import type { ImageStorage } from "./hypervisor.js";

const answers: ReadonlySet<string> = new Set(["ENOENT", "ENOTDIR"]);

export const fileImageStorage: ImageStorage = {
  async verify(files) {
    for (const file of files) {
      if (!file.startsWith("/")) continue;
      try {
        await stat(file);
      } catch (error) {
        if (!answers.has((error as NodeJS.ErrnoException).code ?? "")) throw error;
      }
    }
  },
};
