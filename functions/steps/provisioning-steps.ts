/** The provisioning workflow's one Lambda: every Task of statemachines/provisioning.asl.json (functions/steps/index.ts). */
import { workflowLambda } from "./step-lambda.ts";

export const handler = workflowLambda("provisioning");
