/** Step Lambda: see `completeRunStep` in functions/domain/runs/run-completion.ts. */
import { completeRunStep } from "../domain/runs/run-completion.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(completeRunStep);
