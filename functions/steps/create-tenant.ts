/** Step Lambda: see `createTenantStep` in functions/domain/provisioning/provisioning-steps.ts. */
import { createTenantStep } from "../domain/provisioning/provisioning-steps.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(createTenantStep);
