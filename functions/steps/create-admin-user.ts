/** Step Lambda: see `createAdminUserStep` in functions/domain/provisioning/provisioning-steps.ts. */
import { createAdminUserStep } from "../domain/provisioning/provisioning-steps.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(createAdminUserStep);
