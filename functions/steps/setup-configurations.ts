/** Step Lambda: see `setupConfigurationsStep` in functions/domain/provisioning/provisioning-steps.ts. */
import { setupConfigurationsStep } from "../domain/provisioning/provisioning-steps.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(setupConfigurationsStep);
