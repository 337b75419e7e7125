// Maps what handlers throw to gRPC statuses with clear messages, so every bad
// request gets a status and a handler bug never crashes the process.
import * as grpc from "@grpc/grpc-js";
import { errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logging.js";
import { CommandTimeoutError, HostNotConnectedError, PrimaryNotReadyError } from "../primary/dispatcher.js";
import { LogClosedError, NotLeaderError } from "../replication/log.js";
import { ProposalDroppedError, TransferFailedError } from "../replication/raft-replica.js";

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

/** A status another replica answered with, relayed to our caller unchanged. */
export class RelayedStatus extends Error {
  override name = "RelayedStatus";
  constructor(
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(details);
  }
}

export const invalidArgument = (field: string, why: string) => new ApiError(grpc.status.INVALID_ARGUMENT, `${field}: ${why}`);
export const notFound = (what: string) => new ApiError(grpc.status.NOT_FOUND, `${what} not found`);
export const failedPrecondition = (why: string) => new ApiError(grpc.status.FAILED_PRECONDITION, why);
export const unimplemented = (what: string) => new ApiError(grpc.status.UNIMPLEMENTED, `${what} is not implemented in this version`);

export function toStatus(error: unknown): { code: grpc.status; details: string } {
  if (error instanceof ApiError) return { code: error.code, details: error.message };
  if (error instanceof RelayedStatus) return { code: error.code, details: error.details };
  if (error instanceof NotLeaderError) return { code: grpc.status.UNAVAILABLE, details: error.message };
  if (error instanceof LogClosedError) return { code: grpc.status.UNAVAILABLE, details: error.message };
  if (error instanceof HostNotConnectedError) return { code: grpc.status.FAILED_PRECONDITION, details: error.message };
  if (error instanceof PrimaryNotReadyError) return { code: grpc.status.UNAVAILABLE, details: error.message };
  if (error instanceof TransferFailedError) return { code: grpc.status.FAILED_PRECONDITION, details: error.message };
  if (error instanceof ProposalDroppedError) return { code: grpc.status.ABORTED, details: error.message };
  if (error instanceof CommandTimeoutError) return { code: grpc.status.DEADLINE_EXCEEDED, details: error.message };
  return { code: grpc.status.INTERNAL, details: `internal error: ${errorMessage(error)}` };
}

/** Wraps an async unary handler: its result is the response, anything thrown becomes a status. */
export function unary<Request, Response>(
  logger: Logger,
  method: string,
  handler: (request: Request, call: grpc.ServerUnaryCall<Request, Response>) => Promise<Response>,
): grpc.handleUnaryCall<Request, Response> {
  return (call, callback) => {
    handler(call.request, call).then(
      (response) => callback(null, response),
      (error: unknown) => {
        const status = toStatus(error);
        const level = status.code === grpc.status.INTERNAL ? "error" : "info";
        logger[level]({ method, code: grpc.status[status.code], err: status.code === grpc.status.INTERNAL ? error : undefined }, status.details);
        callback({ code: status.code, details: status.details, metadata: new grpc.Metadata() });
      },
    );
  };
}
