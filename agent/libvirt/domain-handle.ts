// A domain looked up once and read many times from the main thread without a worker round trip:
// for state polling and for measuring the binding's per-call cost. Reads are synchronous libvirt
// calls, so use it for cheap queries only; everything that can block goes through LibvirtConnection.
import { assert } from "../../common/assert.js";
import { readInfo, type DomainInfo, type DomainState } from "./domain.js";
import { checkResult } from "./errors.js";
import { native, type DomainPointer } from "./ffi.js";
import { domainStateName, stateReasonName } from "./names.js";

export class DomainHandle {
  private pointer: DomainPointer | null;
  // Reused out-parameters: state() is the hot path, one allocation less per call.
  private readonly stateOut = new Int32Array(1);
  private readonly reasonOut = new Int32Array(1);

  constructor(pointer: DomainPointer) {
    this.pointer = pointer;
  }

  private requirePointer(): DomainPointer {
    assert(this.pointer !== null, "DomainHandle used after close()");
    return this.pointer;
  }

  /** virDomainGetState, decoded. */
  state(): DomainState {
    const pointer = this.requirePointer();
    checkResult(native.virDomainGetState(pointer, this.stateOut, this.reasonOut, 0), "virDomainGetState");
    const state = this.stateOut[0] ?? 0;
    return { state: domainStateName(state), reason: stateReasonName(state, this.reasonOut[0] ?? 0) };
  }

  /** virDomainGetState without decoding: the raw numbers, for the benchmark's per-call figure. */
  stateCodes(): [state: number, reason: number] {
    const pointer = this.requirePointer();
    checkResult(native.virDomainGetState(pointer, this.stateOut, this.reasonOut, 0), "virDomainGetState");
    return [this.stateOut[0] ?? 0, this.reasonOut[0] ?? 0];
  }

  info(): DomainInfo {
    return readInfo(this.requirePointer());
  }

  /** virDomainFree. Idempotent. */
  close(): void {
    if (this.pointer === null) return;
    native.virDomainFree(this.pointer);
    this.pointer = null;
  }
}
