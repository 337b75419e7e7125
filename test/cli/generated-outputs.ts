// The proto-loader output types (`npm run gen`) of the messages vigilctl decodes, under short names.
export type { ClusterEvent__Output as ClusterEvent } from "../../common/generated/vigil/v1/ClusterEvent.js";
export type { ClusterStatus__Output as ClusterStatus } from "../../common/generated/vigil/v1/ClusterStatus.js";
export type { ConfigEntry__Output as ConfigEntry } from "../../common/generated/vigil/v1/ConfigEntry.js";
export type { Host__Output as Host } from "../../common/generated/vigil/v1/Host.js";
export type { Job__Output as Job } from "../../common/generated/vigil/v1/Job.js";
export type { Member__Output as Member } from "../../common/generated/vigil/v1/Member.js";
export type { Vm__Output as Vm } from "../../common/generated/vigil/v1/Vm.js";
export type { VmOperation__Output as VmOperation } from "../../common/generated/vigil/v1/VmOperation.js";
