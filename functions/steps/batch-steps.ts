/** The batch workflow's one Lambda: every Task of statemachines/batch.asl.json (functions/steps/index.ts). */
import { workflowLambda } from "./step-lambda.ts";

export const handler = workflowLambda("batch");
