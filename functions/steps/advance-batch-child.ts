/** Step Lambda: see `advanceBatchChildStep` in functions/domain/batches/batch-steps.ts. */
import { advanceBatchChildStep } from "../domain/batches/batch-steps.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(advanceBatchChildStep);
