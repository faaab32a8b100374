/**
 * The workflows' steps: one Task state in `statemachines/*.asl.json`, one handler module in
 * `functions/steps/`, one Lambda in AWS, one entry in a progress record's `steps`. CDK, the local
 * runner and the tests all read this list, and a test checks it against the ASL files.
 */

/** A workflow: one ASL file `statemachines/<name>.asl.json`, one state machine in AWS. */
export type WorkflowName = "provisioning" | "deprovisioning" | "restore" | "batch" | "upgrade" | "rollout";

export interface StepDefinition {
  /** The Task state's name in the ASL (and the name in progress records). */
  readonly name: string;
  /** Stable id used in URLs: `/progress/:id/steps/:stepId/retry`. */
  readonly id: string;
  readonly title: string;
  /** The module `functions/steps/<lambda>.ts` exporting `handler`. */
  readonly lambda: string;
}

export const PROVISIONING_STEPS = [
  { name: "CreateTenant", id: "create-tenant", title: "Create tenant", lambda: "create-tenant" },
  {
    name: "CreateAdminUser",
    id: "create-admin-user",
    title: "Create admin user",
    lambda: "create-admin-user",
  },
  { name: "RunMigrations", id: "run-migrations", title: "Run tenant migrations", lambda: "run-migrations" },
  {
    name: "SetupConfigurations",
    id: "setup-configurations",
    title: "Set up configuration",
    lambda: "setup-configurations",
  },
  {
    name: "CreateInitialData",
    id: "create-initial-data",
    title: "Create initial data",
    lambda: "create-initial-data",
  },
  {
    name: "PostProvisioningSteps",
    id: "post-provisioning-steps",
    title: "Post-provisioning steps",
    lambda: "post-provisioning-step",
  },
] as const satisfies readonly StepDefinition[];

export type ProvisioningStepName = (typeof PROVISIONING_STEPS)[number]["name"];

/** Deprovisioning, in order; `NotifyUsers` runs only when the options ask for it. */
export const DEPROVISIONING_STEPS = [
  { name: "BackupData", id: "backup-data", title: "Back up tenant data", lambda: "backup-data" },
  { name: "NotifyUsers", id: "notify-users", title: "Notify users", lambda: "notify-users" },
  { name: "DisableAccess", id: "disable-access", title: "Disable access", lambda: "disable-access" },
  { name: "CleanupData", id: "cleanup-data", title: "Remove tenant data", lambda: "cleanup-data" },
  {
    name: "CleanupAuditLogs",
    id: "cleanup-audit-logs",
    title: "Archive or remove audit logs",
    lambda: "cleanup-audit-logs",
  },
] as const satisfies readonly StepDefinition[];

export type DeprovisioningStepName = (typeof DEPROVISIONING_STEPS)[number]["name"];

/** Restoring a deprovisioned tenant from one of its backups. */
export const RESTORE_STEPS = [
  { name: "VerifyBackup", id: "verify-backup", title: "Verify backup", lambda: "verify-backup" },
  { name: "RestoreData", id: "restore-data", title: "Restore tenant data", lambda: "restore-data" },
] as const satisfies readonly StepDefinition[];

/**
 * A batch (bulk provisioning): one step, the Map over its children (`AdvanceBatchChild` starts or
 * resumes a child and reports how it stands), then `FinishBatch` — the step's Task — weighs the
 * outcome against the failure budget.
 */
export const BATCH_STEPS = [
  {
    name: "ProvisionChildren",
    id: "provision-children",
    title: "Provision the tenants",
    lambda: "finish-batch",
  },
] as const satisfies readonly StepDefinition[];

/**
 * Upgrading one tenant to a newer version of its template: its new tenant migrations, settings,
 * limits and feature flags and its new version, in one transaction.
 */
export const UPGRADE_STEPS = [
  {
    name: "UpgradeTenant",
    id: "upgrade-tenant",
    title: "Upgrade tenant to the new template version",
    lambda: "upgrade-tenant",
  },
] as const satisfies readonly StepDefinition[];

/**
 * A rollout: one step, `NextWave`, that the state machine comes back to after each wave (a Map of
 * upgrade runs); each wave is an action of it.
 */
export const ROLLOUT_STEPS = [
  { name: "NextWave", id: "waves", title: "Upgrade tenants wave by wave", lambda: "next-wave" },
] as const satisfies readonly StepDefinition[];

/**
 * Task states that are not progress steps but bookkeeping shared by the workflows: completion
 * and failure recording.
 */
export const BOOKKEEPING_TASKS = [
  { name: "CompleteRun", lambda: "complete-run" },
  { name: "RecordFailure", lambda: "record-failure" },
  // Deprovisioning: the grace period's clock (a loop of Waits and this check, so no single Wait
  // lasts longer than a day) and the first state of a scheduled execution (claims the schedule).
  { name: "CheckGracePeriod", lambda: "check-grace-period" },
  { name: "StartScheduledRun", lambda: "start-scheduled-run" },
  // Batch: the Map's iteration, one per child (starts it, resumes it, or reports how it stands).
  { name: "AdvanceBatchChild", lambda: "advance-batch-child" },
  // Rollout: one tenant of a wave; creates its upgrade run (or says why not) before the Map item
  // starts the upgrade state machine.
  { name: "StartUpgrade", lambda: "start-upgrade" },
] as const;

/**
 * The `${...}` substitution each Task resource uses in the ASL: the Lambda module name in
 * PascalCase + `FunctionArn` (e.g. `${CreateTenantFunctionArn}`, `${PostProvisioningStepFunctionArn}`).
 */
export function functionArnSubstitution(lambda: string): string {
  const pascal = lambda
    .split("-")
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join("");
  return `${pascal}FunctionArn`;
}

/** The step module name of every Task the workflows run: each needs a factory (functions/steps/). */
export type StepLambda =
  | (typeof PROVISIONING_STEPS)[number]["lambda"]
  | (typeof DEPROVISIONING_STEPS)[number]["lambda"]
  | (typeof RESTORE_STEPS)[number]["lambda"]
  | (typeof BATCH_STEPS)[number]["lambda"]
  | (typeof UPGRADE_STEPS)[number]["lambda"]
  | (typeof ROLLOUT_STEPS)[number]["lambda"]
  | (typeof BOOKKEEPING_TASKS)[number]["lambda"];

export const WORKFLOW_STEPS: Record<WorkflowName, readonly StepDefinition[]> = {
  provisioning: PROVISIONING_STEPS,
  deprovisioning: DEPROVISIONING_STEPS,
  restore: RESTORE_STEPS,
  batch: BATCH_STEPS,
  upgrade: UPGRADE_STEPS,
  rollout: ROLLOUT_STEPS,
};
