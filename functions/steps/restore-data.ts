/** Step Lambda: see `restoreDataStep` in functions/domain/restore/restore-steps.ts. */
import { restoreDataStep } from "../domain/restore/restore-steps.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(restoreDataStep);
