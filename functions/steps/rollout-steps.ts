/** The rollout workflow's one Lambda: every Task of statemachines/rollout.asl.json (functions/steps/index.ts). */
import { workflowLambda } from "./step-lambda.ts";

export const handler = workflowLambda("rollout");
