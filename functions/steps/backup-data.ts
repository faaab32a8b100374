/** Step Lambda: see `backupDataStep` in functions/domain/deprovisioning/deprovisioning-steps.ts. */
import { backupDataStep } from "../domain/deprovisioning/deprovisioning-steps.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(backupDataStep);
