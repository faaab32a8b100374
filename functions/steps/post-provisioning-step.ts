/** Step Lambda: see `postProvisioningStep` in functions/domain/provisioning/provisioning-steps.ts. */
import { postProvisioningStep } from "../domain/provisioning/provisioning-steps.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(postProvisioningStep);
