/** Step Lambda: see `runMigrationsStep` in functions/domain/provisioning/provisioning-steps.ts. */
import { runMigrationsStep } from "../domain/provisioning/provisioning-steps.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(runMigrationsStep);
