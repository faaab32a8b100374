/** Step Lambda: see `finishBatchStep` in functions/domain/batches/batch-steps.ts. */
import { finishBatchStep } from "../domain/batches/batch-steps.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(finishBatchStep);
