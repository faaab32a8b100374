/** Step Lambda: see `createInitialDataStep` in functions/domain/provisioning/provisioning-steps.ts. */
import { createInitialDataStep } from "../domain/provisioning/provisioning-steps.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(createInitialDataStep);
