/** Step Lambda: see `startUpgradeStep` in functions/domain/rollouts/rollout-steps.ts. */
import { startUpgradeStep } from "../domain/rollouts/rollout-steps.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(startUpgradeStep);
