/** Step Lambda: see `disableAccessStep` in functions/domain/deprovisioning/deprovisioning-steps.ts. */
import { disableAccessStep } from "../domain/deprovisioning/deprovisioning-steps.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(disableAccessStep);
