// Job statistics (virDomainGetJobStats, job-completed events) decoded from typed parameters into
// named fields with units. Pure: no I/O, so it runs in any thread.
import { jobOperationNames, jobTypeNames, nameAt } from "./names.js";
import type { TypedParameterRecord } from "./typed-params.js";

export interface JobStats {
  /** virDomainJobType: "none" when no job runs, "unbounded" for a migration in progress, "completed", "failed"... */
  type: string;
  /** virDomainJobOperation, e.g. "migration_out"; "unknown" when libvirt did not say. */
  operation: string;
  elapsedMs: number | null;
  remainingMs: number | null;
  /** Measured or expected guest downtime of a migration. */
  downtimeMs: number | null;
  dataTotalBytes: number | null;
  dataProcessedBytes: number | null;
  dataRemainingBytes: number | null;
  memoryTotalBytes: number | null;
  memoryProcessedBytes: number | null;
  memoryRemainingBytes: number | null;
  memoryIteration: number | null;
  /** dataProcessed / dataTotal in [0, 1], null when libvirt reported no totals. */
  progress: number | null;
  /** Every parameter libvirt sent, by its libvirt name (e.g. "memory_dirty_rate"). */
  parameters: TypedParameterRecord;
}

function numberOrNull(parameters: TypedParameterRecord, name: string): number | null {
  const value = parameters[name];
  return typeof value === "number" ? value : null;
}

function progressOf(processed: number | null, total: number | null): number | null {
  if (processed === null || total === null || total <= 0) return null;
  return Math.min(1, processed / total);
}

export function decodeJobStats(jobType: number, parameters: TypedParameterRecord): JobStats {
  const dataTotalBytes = numberOrNull(parameters, "data_total");
  const dataProcessedBytes = numberOrNull(parameters, "data_processed");
  const operation = numberOrNull(parameters, "operation");
  return {
    type: nameAt(jobTypeNames, jobType),
    operation: operation === null ? "unknown" : nameAt(jobOperationNames, operation),
    elapsedMs: numberOrNull(parameters, "time_elapsed"),
    remainingMs: numberOrNull(parameters, "time_remaining"),
    downtimeMs: numberOrNull(parameters, "downtime"),
    dataTotalBytes,
    dataProcessedBytes,
    dataRemainingBytes: numberOrNull(parameters, "data_remaining"),
    memoryTotalBytes: numberOrNull(parameters, "memory_total"),
    memoryProcessedBytes: numberOrNull(parameters, "memory_processed"),
    memoryRemainingBytes: numberOrNull(parameters, "memory_remaining"),
    memoryIteration: numberOrNull(parameters, "memory_iteration"),
    progress: progressOf(dataProcessedBytes, dataTotalBytes),
    parameters,
  };
}

/** virDomainJobType "completed" (3): what a job-completed event reports. */
export const completedJobType = 3;
