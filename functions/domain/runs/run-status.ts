/** A run's status: what is still going on, and what has ended. */
import type { RunStatus } from "../../schemas/progress.ts";

/** A run not ended yet: its steps may still run. */
export const ACTIVE_STATUSES = ["pending", "running"] as const satisfies readonly RunStatus[];

export type ActiveStatus = (typeof ACTIVE_STATUSES)[number];

export function isActive(status: RunStatus): status is ActiveStatus {
  return (ACTIVE_STATUSES as readonly RunStatus[]).includes(status);
}
