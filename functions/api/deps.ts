/**
 * What API operations need, passed in: the local server hands in the embedded database and the
 * in-process workflow runner; Lambdas get the Data API and Step Functions (production-deps.ts).
 */
import type { Database } from "../db/client.ts";
import type { CellDirectory } from "../domain/cells/cell-directory.ts";
import type { Scheduler } from "../domain/scheduling/scheduler.ts";
import type { SecretSealer } from "../domain/webhooks/secret-sealer.ts";
import type { ResolveHost, UrlPolicy } from "../domain/webhooks/url-guard.ts";
import type { InvitationsConfig } from "../shared/config.ts";
import type { Logger } from "../shared/logger.ts";
import type { WorkflowRunner } from "../workflows/workflow-runner.ts";

export interface ApiDeps {
  /** The control-plane database. */
  readonly db: Database;
  /** The tenant databases; unset: the control-plane database is the only cell (`cellsOf`). */
  readonly cells?: CellDirectory;
  readonly logger: Logger;
  /** The current time; tests may fix it. */
  readonly clock: () => Date;
  readonly workflows: WorkflowRunner;
  /** One-time schedules (`schedule-deprovision`): EventBridge Scheduler in AWS, the poller locally. */
  readonly scheduler?: Scheduler;
  /** Webhook subscriptions: how secrets are sealed, and the URL rules of this runtime. */
  readonly webhooks?: WebhookApiDeps;
  /** Where invitation links point and how long they work; unset: no password-less provisioning. */
  readonly invitations?: InvitationsConfig;
}

export interface WebhookApiDeps {
  readonly sealer: SecretSealer;
  readonly policy: UrlPolicy;
  readonly resolve?: ResolveHost;
}
