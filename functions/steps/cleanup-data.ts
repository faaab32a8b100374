/** Step Lambda: see `cleanupDataStep` in functions/domain/deprovisioning/deprovisioning-steps.ts. */
import { cleanupDataStep } from "../domain/deprovisioning/deprovisioning-steps.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(cleanupDataStep);
