/** The upgrade workflow's one Lambda: every Task of statemachines/upgrade.asl.json (functions/steps/index.ts). */
import { workflowLambda } from "./step-lambda.ts";

export const handler = workflowLambda("upgrade");
