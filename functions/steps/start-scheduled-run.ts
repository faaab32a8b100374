/** Step Lambda: see `startScheduledRunStep` in functions/domain/deprovisioning/schedule-service.ts. */
import { startScheduledRunStep } from "../domain/deprovisioning/schedule-service.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(startScheduledRunStep);
