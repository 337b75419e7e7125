// A blocking-call worker thread: runs one operation (operations.ts) at a time on behalf of the main
// thread and posts back its value or its LibvirtError. libvirt reports errors per thread, which is
// why the operation and the reading of its error must happen here, on the same thread.
import { parentPort } from "node:worker_threads";
import { assert } from "../../common/assert.js";
import { LibvirtError, type LibvirtErrorDetails } from "./errors.js";
import { operations, type OperationName } from "./operations.js";

export interface BlockingRequest {
  id: number;
  operation: OperationName;
  args: unknown[];
}

export type BlockingReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; libvirtError: LibvirtErrorDetails }
  | { id: number; ok: false; otherError: { name: string; message: string; stack: string | undefined } };

const port = parentPort;
assert(port !== null, "blocking-worker must run as a worker thread");

function run(request: BlockingRequest): BlockingReply {
  const operation = operations[request.operation] as (...args: unknown[]) => unknown;
  assert(typeof operation === "function", `unknown blocking operation ${request.operation}`);
  try {
    return { id: request.id, ok: true, value: operation(...request.args) };
  } catch (error) {
    if (error instanceof LibvirtError) return { id: request.id, ok: false, libvirtError: error.toDetails() };
    const { name, message, stack } = error instanceof Error ? error : new Error(String(error));
    return { id: request.id, ok: false, otherError: { name, message, stack } };
  }
}

port.on("message", (request: BlockingRequest) => {
  port.postMessage(run(request));
});
