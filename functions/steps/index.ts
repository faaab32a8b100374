/**
 * Every Task handler of each workflow, by Task state name, and the dispatch that one workflow
 * Lambda (`functions/steps/<kind>-steps.ts`) and the local runner both use: the Task names itself
 * in its Parameters (`task`), and the handler of that name runs. A missing handler is a compile
 * error (the names come from the step catalog, which a test checks against the ASL files).
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
import type { StepDeps, StepFactory, StepHandler } from "../domain/steps/step-deps.ts";
import { ValidationError } from "../shared/errors.ts";
import type { TaskName, WorkflowName } from "../workflows/step-catalog.ts";

export const TASK_HANDLERS: { readonly [K in WorkflowName]: Readonly<Record<TaskName<K>, StepFactory>> } = {
  provisioning: {
    StartScheduledRun: startScheduledRunStep,
    CreateTenant: createTenantStep,
    CreateAdminUser: createAdminUserStep,
    RunMigrations: runMigrationsStep,
    SetupConfigurations: setupConfigurationsStep,
    CreateInitialData: createInitialDataStep,
    PostProvisioningStep: postProvisioningStep,
    CompleteRun: completeRunStep,
    RecordFailure: recordFailureStep,
  },
  deprovisioning: {
    StartScheduledRun: startScheduledRunStep,
    BackupData: backupDataStep,
    NotifyUsers: notifyUsersStep,
    DisableAccess: disableAccessStep,
    CheckGracePeriod: checkGracePeriodStep,
    CleanupData: cleanupDataStep,
    CleanupAuditLogs: cleanupAuditLogsStep,
    CompleteRun: completeRunStep,
    RecordFailure: recordFailureStep,
  },
  restore: {
    VerifyBackup: verifyBackupStep,
    RestoreData: restoreDataStep,
    CompleteRun: completeRunStep,
    RecordFailure: recordFailureStep,
  },
  batch: {
    StartScheduledRun: startScheduledRunStep,
    AdvanceBatchChild: advanceBatchChildStep,
    FinishBatch: finishBatchStep,
    CompleteRun: completeRunStep,
    RecordFailure: recordFailureStep,
  },
  upgrade: {
    UpgradeTenant: upgradeTenantStep,
    CompleteRun: completeRunStep,
    RecordFailure: recordFailureStep,
  },
  rollout: {
    NextWave: nextWaveStep,
    StartUpgrade: startUpgradeStep,
    CompleteRun: completeRunStep,
    RecordFailure: recordFailureStep,
  },
};

/** The Task a workflow Lambda's input names (`task`, set by the Task's Parameters). */
export function taskOf(input: Record<string, unknown>): string {
  const task = input.task;
  if (typeof task !== "string" || task.length === 0) throw new ValidationError("step input names no task");
  return task;
}

/**
 * The handler of a workflow's one Lambda: runs the Task its input names, with the rest of the
 * input. Each Task's handler is built once, on its first call.
 */
export function workflowTaskHandler(kind: WorkflowName, deps: StepDeps): StepHandler {
  const factories = TASK_HANDLERS[kind] as Readonly<Record<string, StepFactory | undefined>>;
  const handlers = new Map<string, StepHandler>();
  return async (input) => {
    const task = taskOf(input);
    let handler = handlers.get(task);
    if (!handler) {
      const factory = Object.hasOwn(factories, task) ? factories[task] : undefined;
      if (!factory) throw new ValidationError(`the ${kind} workflow has no Task ${task}`);
      handler = factory(deps);
      handlers.set(task, handler);
    }
    const { task: _task, ...rest } = input;
    return handler(rest);
  };
}
