/** Step Lambda: see `verifyBackupStep` in functions/domain/restore/restore-steps.ts. */
import { verifyBackupStep } from "../domain/restore/restore-steps.ts";
import { lambdaStep } from "./step-lambda.ts";

export const handler = lambdaStep(verifyBackupStep);
