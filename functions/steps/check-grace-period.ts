/** Step Lambda: see `checkGracePeriodStep` in functions/domain/deprovisioning/deprovisioning-steps.ts. */
import { checkGracePeriodStep } from "../domain/deprovisioning/deprovisioning-steps.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(checkGracePeriodStep);
