/** Step Lambda: see `cleanupAuditLogsStep` in functions/domain/deprovisioning/deprovisioning-steps.ts. */
import { cleanupAuditLogsStep } from "../domain/deprovisioning/deprovisioning-steps.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(cleanupAuditLogsStep);
