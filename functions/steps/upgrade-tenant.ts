/** Step Lambda: see `upgradeTenantStep` in functions/domain/rollouts/upgrade-steps.ts. */
import { upgradeTenantStep } from "../domain/rollouts/upgrade-steps.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(upgradeTenantStep);
