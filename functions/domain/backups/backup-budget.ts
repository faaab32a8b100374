/** How much work one invocation of a backup or restore loop does (paged-backup.ts). */
import { PAGE_BYTES } from "./tenant-export.ts";

/** How much one BackupData or RestoreData invocation does (configurable: tests force many iterations). */
export interface BackupBudget {
  /** Row bytes per backup page (one database call answers at most this, base64-encoded). */
  readonly pageBytes: number;
  /** Pages one invocation writes or restores at most. */
  readonly pagesPerInvocation: number;
  /** Milliseconds after which an invocation starts no new page (well under the Lambda's timeout). */
  readonly invocationMs: number;
}

export const DEFAULT_BACKUP_BUDGET: BackupBudget = {
  pageBytes: PAGE_BYTES,
  pagesPerInvocation: 64,
  invocationMs: 60_000,
};
