/** Step Lambda: see `recordFailureStep` in functions/domain/runs/run-completion.ts. */
import { recordFailureStep } from "../domain/runs/run-completion.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(recordFailureStep);
