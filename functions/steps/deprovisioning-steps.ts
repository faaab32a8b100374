/** The deprovisioning workflow's one Lambda: every Task of statemachines/deprovisioning.asl.json (functions/steps/index.ts). */
import { workflowLambda } from "./step-lambda.ts";

export const handler = workflowLambda("deprovisioning");
