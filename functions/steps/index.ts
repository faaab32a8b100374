/**
 * Every step factory by the Lambda module name of the step catalog (functions/workflows/step-catalog.ts).
 * The local runner binds Task states to these; in AWS each is its own Lambda (the sibling modules).
 */

import { advanceBatchChildStep, finishBatchStep } from "../domain/batches/batch-steps.ts";
import {
  backupDataStep,
  checkGracePeriodStep,
  cleanupAuditLogsStep,
  cleanupDataStep,
  disableAccessStep,
  notifyUsersStep,
} from "../domain/deprovisioning/deprovisioning-steps.ts";
import { startScheduledRunStep } from "../domain/deprovisioning/schedule-service.ts";
import {
  createAdminUserStep,
  createInitialDataStep,
  createTenantStep,
  postProvisioningStep,
  runMigrationsStep,
  setupConfigurationsStep,
} from "../domain/provisioning/provisioning-steps.ts";
import { restoreDataStep, verifyBackupStep } from "../domain/restore/restore-steps.ts";
import { nextWaveStep, startUpgradeStep } from "../domain/rollouts/rollout-steps.ts";
import { upgradeTenantStep } from "../domain/rollouts/upgrade-steps.ts";
import { completeRunStep, recordFailureStep } from "../domain/runs/run-completion.ts";
import type { StepFactory } from "../domain/steps/step-deps.ts";
import type { StepLambda } from "../workflows/step-catalog.ts";

export const STEP_FACTORIES: Record<StepLambda, StepFactory> = {
  "create-tenant": createTenantStep,
  "create-admin-user": createAdminUserStep,
  "run-migrations": runMigrationsStep,
  "setup-configurations": setupConfigurationsStep,
  "create-initial-data": createInitialDataStep,
  "post-provisioning-step": postProvisioningStep,
  "complete-run": completeRunStep,
  "record-failure": recordFailureStep,
  "backup-data": backupDataStep,
  "notify-users": notifyUsersStep,
  "disable-access": disableAccessStep,
  "check-grace-period": checkGracePeriodStep,
  "cleanup-data": cleanupDataStep,
  "cleanup-audit-logs": cleanupAuditLogsStep,
  "start-scheduled-run": startScheduledRunStep,
  "verify-backup": verifyBackupStep,
  "restore-data": restoreDataStep,
  "advance-batch-child": advanceBatchChildStep,
  "finish-batch": finishBatchStep,
  "upgrade-tenant": upgradeTenantStep,
  "next-wave": nextWaveStep,
  "start-upgrade": startUpgradeStep,
};
