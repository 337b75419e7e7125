// The Linux watchdog device (/dev/watchdog; softdog is fine). Opening it starts the kernel's timer;
// every write feeds it; the host resets when it goes unfed for the device's timeout. Writing the
// magic character 'V' right before closing disarms it (unless the kernel was built or the module
// loaded with nowayout), so a clean agent stop does not reset the host; a crash or a close without
// 'V' leaves it armed.
import { closeSync, constants, fstatSync, openSync, writeSync } from "node:fs";
import { errorMessage } from "../common/errors.js";

export interface Watchdog {
  readonly path: string;
  feed(): void;
  /** `disarm`: write the magic 'V' first, so the closed device stops counting. */
  close(options: { disarm: boolean }): void;
}

export class WatchdogOpenError extends Error {
  override name = "WatchdogOpenError";
}

export class WatchdogDevice implements Watchdog {
  private constructor(
    readonly path: string,
    private fd: number | null,
    /** False for a regular file or FIFO standing in for the device in tests. */
    readonly isCharacterDevice: boolean,
  ) {}

  /** Opens for writing only, never creating: a wrong path must not become a plain file that protects nothing. */
  static open(path: string): WatchdogDevice {
    // libuv opens with O_CLOEXEC: the descriptor is not inherited by child processes.
    let fd: number;
    try {
      fd = openSync(path, constants.O_WRONLY);
    } catch (error) {
      throw new WatchdogOpenError(`cannot open ${path}: ${errorMessage(error)} (is a watchdog driver loaded? softdog will do)`);
    }
    return new WatchdogDevice(path, fd, fstatSync(fd).isCharacterDevice());
  }

  feed(): void {
    if (this.fd === null) return;
    writeSync(this.fd, "\0");
  }

  close(options: { disarm: boolean }): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    try {
      if (options.disarm) writeSync(fd, "V");
    } finally {
      closeSync(fd);
    }
  }
}
