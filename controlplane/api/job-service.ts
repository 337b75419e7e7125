// JobService: migrations and flushes arrive with the migration issue; until then
// there are no jobs, and a lookup says so clearly.
import type { JobServiceHandlers } from "../../common/generated/vigil/v1/JobService.js";
import type { ControlPlaneContext } from "../context.js";
import { invalidArgument, notFound, unary } from "./status.js";

export function jobServiceHandlers(context: ControlPlaneContext): JobServiceHandlers {
  const { logger } = context;
  const requireId = (id: string) => {
    if (id.length === 0 || id.length > 128 || /[\u0000-\u001f\u007f]/.test(id)) throw invalidArgument("id", "job id must be 1 to 128 printable characters");
    return id;
  };
  return {
    List: unary(logger, "JobList", async () => ({ jobs: [] })),
    Get: unary(logger, "JobGet", async (request) => {
      throw notFound(`job "${requireId(request.id)}"`);
    }),
    Cancel: unary(logger, "JobCancel", async (request) => {
      throw notFound(`job "${requireId(request.id)}"`);
    }),
  };
}
