// The fence methods vigild uses until per-host fencing is configured: every host is fenced by an
// operator's `vigilctl host confirm-fenced`. The safe default: nothing is powered off and no VM
// restarts elsewhere without a human's word. controlplane/fencing/ loads the configured methods.
import type { FenceMethods } from "./fence-device.js";

export const manualFencingOnly: FenceMethods = {
  methodFor: () => ({ kind: "manual" }),
};
