/**
 * The workflows' steps: one Task state in `statemachines/*.asl.json`, one handler run by its
 * workflow's one Lambda (`functions/steps/<kind>-steps.ts`), one entry in a progress record's
 * `steps`. CDK, the local runner and the tests all read this list, and a test checks it against
 * the ASL files.
 */

/** A workflow: one ASL file `statemachines/<name>.asl.json`, one state machine in AWS. */
export type WorkflowName = "provisioning" | "deprovisioning" | "restore" | "batch" | "upgrade" | "rollout";

export interface StepDefinition {
  /** The Task state's name in the ASL (and the name in progress records). */
  readonly name: string;
  /** Stable id used in URLs: `/progress/:id/steps/:stepId/retry`. */
  readonly id: string;
  readonly title: string;
}

export const PROVISIONING_STEPS = [
  { name: "CreateTenant", id: "create-tenant", title: "Create tenant" },
  {
    name: "CreateAdminUser",
    id: "create-admin-user",
    title: "Create admin user",
  },
  { name: "RunMigrations", id: "run-migrations", title: "Run tenant migrations" },
  {
    name: "SetupConfigurations",
    id: "setup-configurations",
    title: "Set up configuration",
  },
  {
    name: "CreateInitialData",
    id: "create-initial-data",
    title: "Create initial data",
  },
  {
    name: "PostProvisioningSteps",
    id: "post-provisioning-steps",
    title: "Post-provisioning steps",
  },
] as const satisfies readonly StepDefinition[];

export type ProvisioningStepName = (typeof PROVISIONING_STEPS)[number]["name"];

/** Deprovisioning, in order; `NotifyUsers` runs only when the options ask for it. */
export const DEPROVISIONING_STEPS = [
  { name: "BackupData", id: "backup-data", title: "Back up tenant data" },
  { name: "NotifyUsers", id: "notify-users", title: "Notify users" },
  { name: "DisableAccess", id: "disable-access", title: "Disable access" },
  { name: "CleanupData", id: "cleanup-data", title: "Remove tenant data" },
  {
    name: "CleanupAuditLogs",
    id: "cleanup-audit-logs",
    title: "Archive or remove audit logs",
  },
] as const satisfies readonly StepDefinition[];

export type DeprovisioningStepName = (typeof DEPROVISIONING_STEPS)[number]["name"];

/** Restoring a deprovisioned tenant from one of its backups. */
export const RESTORE_STEPS = [
  { name: "VerifyBackup", id: "verify-backup", title: "Verify backup" },
  { name: "RestoreData", id: "restore-data", title: "Restore tenant data" },
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
  },
] as const satisfies readonly StepDefinition[];

/**
 * A rollout: one step, `NextWave`, that the state machine comes back to after each wave (a Map of
 * upgrade runs); each wave is an action of it.
 */
export const ROLLOUT_STEPS = [
  { name: "NextWave", id: "waves", title: "Upgrade tenants wave by wave" },
] as const satisfies readonly StepDefinition[];

/**
 * Task states that are not progress steps but bookkeeping shared by the workflows: completion
 * and failure recording; deprovisioning's grace-period clock (a loop of Waits and this check, so
 * no single Wait lasts longer than a day); the first state of a scheduled execution (claims the
 * schedule).
 */
export const BOOKKEEPING_TASKS = [
  "CompleteRun",
  "RecordFailure",
  "CheckGracePeriod",
  "StartScheduledRun",
  // Batch: the Map's iteration, one per child (starts it, resumes it, or reports how it stands).
  "AdvanceBatchChild",
  // Rollout: one tenant of a wave; creates its upgrade run (or says why not) before the Map item
  // starts the upgrade state machine.
  "StartUpgrade",
] as const;

/**
 * Every Task state of each workflow, by name (inside a Map's ItemProcessor too): its steps' Tasks
 * and the bookkeeping Tasks it uses. Each Task passes its own name as `task` in its Parameters
 * (aws-local-stepfunctions has no `$$.State.Name`), and the workflow's one Lambda runs the handler
 * of that name (functions/steps/index.ts). A test checks this list against the ASL files.
 */
export const WORKFLOW_TASKS = {
  provisioning: [
    "StartScheduledRun",
    "CreateTenant",
    "CreateAdminUser",
    "RunMigrations",
    "SetupConfigurations",
    "CreateInitialData",
    // The Map state PostProvisioningSteps runs this Task once per action.
    "PostProvisioningStep",
    "CompleteRun",
    "RecordFailure",
  ],
  deprovisioning: [
    "StartScheduledRun",
    "BackupData",
    "NotifyUsers",
    "DisableAccess",
    "CheckGracePeriod",
    "CleanupData",
    "CleanupAuditLogs",
    "CompleteRun",
    "RecordFailure",
  ],
  restore: ["VerifyBackup", "RestoreData", "CompleteRun", "RecordFailure"],
  // The distributed Map ForEachChild runs AdvanceBatchChild once per child (each iteration a
  // child execution of the same state machine); FinishBatch is the step ProvisionChildren's Task.
  batch: ["StartScheduledRun", "AdvanceBatchChild", "FinishBatch", "CompleteRun", "RecordFailure"],
  upgrade: ["UpgradeTenant", "CompleteRun", "RecordFailure"],
  // The inline Map UpgradeWave runs StartUpgrade once per tenant of a wave.
  rollout: ["NextWave", "StartUpgrade", "CompleteRun", "RecordFailure"],
} as const satisfies Record<WorkflowName, readonly string[]>;

/** The name of a Task state of workflow `K`. */
export type TaskName<K extends WorkflowName> = (typeof WORKFLOW_TASKS)[K][number];

/**
 * The one Lambda that runs every Task of a workflow (one cold start per run):
 * `functions/steps/<kind>-steps.ts`, e.g. `provisioning-steps`.
 */
export function workflowLambda(kind: WorkflowName): `${WorkflowName}-steps` {
  return `${kind}-steps`;
}

/**
 * The `${...}` substitution each Task resource uses in the ASL: the Lambda module name in
 * PascalCase + `FunctionArn` (e.g. `${ProvisioningStepsFunctionArn}`).
 */
export function functionArnSubstitution(lambda: string): string {
  const pascal = lambda
    .split("-")
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join("");
  return `${pascal}FunctionArn`;
}

export const WORKFLOW_STEPS: Record<WorkflowName, readonly StepDefinition[]> = {
  provisioning: PROVISIONING_STEPS,
  deprovisioning: DEPROVISIONING_STEPS,
  restore: RESTORE_STEPS,
  batch: BATCH_STEPS,
  upgrade: UPGRADE_STEPS,
  rollout: ROLLOUT_STEPS,
};
