/**
 * Every step factory by the Lambda module name of the step catalog (functions/workflows/step-catalog.ts).
 * The local runner binds Task states to these; in AWS each is its own Lambda (the sibling modules).
 */

import {
  createAdminUserStep,
  createInitialDataStep,
  createTenantStep,
  postProvisioningStep,
  runMigrationsStep,
  setupConfigurationsStep,
} from "../domain/provisioning/provisioning-steps.ts";
import { completeRunStep, recordFailureStep } from "../domain/steps/run-completion.ts";
import type { StepFactory } from "../domain/steps/step-deps.ts";

export const STEP_FACTORIES: Record<string, StepFactory> = {
  "create-tenant": createTenantStep,
  "create-admin-user": createAdminUserStep,
  "run-migrations": runMigrationsStep,
  "setup-configurations": setupConfigurationsStep,
  "create-initial-data": createInitialDataStep,
  "post-provisioning-step": postProvisioningStep,
  "complete-run": completeRunStep,
  "record-failure": recordFailureStep,
};
