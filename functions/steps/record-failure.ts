/** Step Lambda: see `recordFailureStep` in functions/domain/steps/run-completion.ts. */
import { recordFailureStep } from "../domain/steps/run-completion.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(recordFailureStep);
