/** Step Lambda: see `completeRunStep` in functions/domain/steps/run-completion.ts. */
import { completeRunStep } from "../domain/steps/run-completion.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(completeRunStep);
