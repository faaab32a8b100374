/** The restore workflow's one Lambda: every Task of statemachines/restore.asl.json (functions/steps/index.ts). */
import { workflowLambda } from "./step-lambda.ts";

export const handler = workflowLambda("restore");
