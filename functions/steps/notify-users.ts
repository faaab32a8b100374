/** Step Lambda: see `notifyUsersStep` in functions/domain/deprovisioning/deprovisioning-steps.ts. */
import { notifyUsersStep } from "../domain/deprovisioning/deprovisioning-steps.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(notifyUsersStep);
