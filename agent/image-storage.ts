// Production ImageStorage: an image answers when its file or block device can be stat()ed. Network
// images (rbd:pool/image, iscsi...) are reached by QEMU itself and are not checked here.
import { stat } from "node:fs/promises";
import type { ImageStorage } from "./hypervisor.js";

export const fileImageStorage: ImageStorage = {
  async verify(files) {
    for (const file of files) {
      if (!file.startsWith("/")) continue;
      await stat(file);
    }
  },
};
