import type { Database } from "../../db/client.ts";
import type { Logger } from "../../shared/logger.ts";
import type { WorkflowRunner } from "../../workflows/workflow-runner.ts";
import type { BackupBudget } from "../backups/backup-budget.ts";
import type { BackupStore } from "../backups/backup-store.ts";
import type { CellDirectory } from "../cells/cell-directory.ts";
import type { NotificationChannel } from "../notifications/notification-channel.ts";

/** What step handlers need, passed in (local: in-process; AWS: built per Lambda container). */
export interface StepDeps {
  /** The control-plane database. */
  readonly db: Database;
  /** The tenant databases; unset: the control-plane database is the only cell (`cellsOf`). */
  readonly cells?: CellDirectory;
  readonly logger: Logger;
  readonly clock: () => Date;
  readonly notifications: NotificationChannel;
  /** `lock_timeout` for a step's transaction: waiting longer becomes a TransientError. */
  readonly lockTimeoutMs: number;
  /** Where deprovisioning writes tenant backups (and restore reads them); required by those steps. */
  readonly backups?: BackupStore;
  /** Starts child runs (a batch's iterations); required by AdvanceBatchChild. */
  readonly workflows?: WorkflowRunner | undefined;
  /** How much one BackupData or RestoreData invocation does (default `DEFAULT_BACKUP_BUDGET`). */
  readonly backupBudget?: BackupBudget;
}

/** A step handler as the state machine calls it: JSON in, JSON out. */
export type StepHandler = (input: Record<string, unknown>) => Promise<Record<string, unknown> | null>;

/** Builds a step handler from its dependencies. */
export type StepFactory = (deps: StepDeps) => StepHandler;
