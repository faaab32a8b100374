/** Step Lambda: see `nextWaveStep` in functions/domain/rollouts/rollout-steps.ts. */
import { nextWaveStep } from "../domain/rollouts/rollout-steps.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(nextWaveStep);
