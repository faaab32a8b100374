/** Progress records: the live view of one run (provisioning, deprovisioning, restore). */
import { z } from "zod";
import { isoDateTime, pageSchema, paginationQuerySchema, uuidSchema } from "./common.ts";

export const RUN_STATUSES = ["pending", "running", "completed", "failed", "cancelled"] as const;
export const STEP_STATUSES = ["pending", "running", "completed", "failed", "skipped"] as const;
export const RUN_KINDS = ["provision", "deprovision", "restore", "batch", "upgrade", "rollout"] as const;

export type RunStatus = (typeof RUN_STATUSES)[number];
export type StepStatus = (typeof STEP_STATUSES)[number];
/** The kind of a run as stored on its progress record; `functions/domain/runs/` defines each. */
export type RunKind = (typeof RUN_KINDS)[number];

export const stepErrorSchema = z.object({ name: z.string(), message: z.string() });
export type StepError = z.infer<typeof stepErrorSchema>;

/** The error one attempt at a step ended with (kept after a later attempt succeeds). */
export const stepAttemptErrorSchema = z.object({
  /** The step's attempt count when it failed (1 = the first attempt). */
  attempt: z.number().int(),
  at: isoDateTime,
  name: z.string(),
  message: z.string(),
  /** For a Map step: the action (post-provisioning action) the attempt was at. */
  action: z.string().optional(),
  /** A transient error (retried by the state machine while its Retry allows) or a permanent one. */
  transient: z.boolean(),
});
export type StepAttemptError = z.infer<typeof stepAttemptErrorSchema>;

/** A sub-action of a step (the post-provisioning actions of the Map state). */
export const stepActionSchema = z.object({
  name: z.string(),
  status: z.enum(STEP_STATUSES),
  attempts: z.number().int(),
  completedAt: isoDateTime.nullable(),
  error: stepErrorSchema.nullable(),
});
export type StepAction = z.infer<typeof stepActionSchema>;

export const progressStepSchema = z.object({
  id: z.string(),
  name: z.string(),
  title: z.string(),
  status: z.enum(STEP_STATUSES),
  attempts: z.number().int(),
  /** When the first attempt started. */
  startedAt: isoDateTime.nullable(),
  /**
   * When the current (or last) pass over the step started: a recover or a retry starts a new
   * pass; the state machine's own retries stay within one.
   */
  passStartedAt: isoDateTime.nullable(),
  completedAt: isoDateTime.nullable(),
  /**
   * The step's own working time: the sum of its passes (automatic retries and their backoff
   * included), not the time a failed run waited for an operator.
   */
  durationMs: z.number().int().nullable(),
  /** The last error (null once the step completed). */
  error: stepErrorSchema.nullable(),
  /** The most recent attempts' errors, oldest first (at most `MAX_ATTEMPT_ERRORS`). */
  attemptErrors: z.array(stepAttemptErrorSchema),
  actions: z.array(stepActionSchema).optional(),
});
export type ProgressStep = z.infer<typeof progressStepSchema>;

/** How many attempt errors a step keeps (a progress record must stay small). */
export const MAX_ATTEMPT_ERRORS = 5;

export const progressWarningSchema = z.object({
  at: isoDateTime,
  code: z.string(),
  message: z.string(),
});
export type ProgressWarning = z.infer<typeof progressWarningSchema>;

/**
 * The tenant a run belongs to, as it is now (joined when runs are read for the API, so lists can
 * name it; a deprovisioned tenant's tombstone says "(removed)" with no slug).
 */
export const runTenantSchema = z.object({
  name: z.string(),
  slug: z.string().nullable(),
  status: z.string(),
  /** The cell (tenant database) the tenant's schema is on. */
  cell: z.string(),
});
export type RunTenant = z.infer<typeof runTenantSchema>;

export const progressRecordSchema = z.object({
  id: z.uuid(),
  kind: z.enum(RUN_KINDS),
  tenantId: z.string().nullable(),
  templateId: z.string().nullable(),
  templateVersion: z.number().int().nullable(),
  status: z.enum(RUN_STATUSES),
  currentStep: z.string().nullable(),
  totalSteps: z.number().int(),
  completedSteps: z.number().int(),
  steps: z.array(progressStepSchema),
  startedAt: isoDateTime.nullable(),
  completedAt: isoDateTime.nullable(),
  error: z.string().nullable(),
  warnings: z.array(progressWarningSchema),
  metadata: z.record(z.string(), z.unknown()),
  attempt: z.number().int(),
  executionRef: z.string().nullable(),
  createdAt: isoDateTime,
  updatedAt: isoDateTime,
  /** Present on `GET /progress` and `GET /progress/:id`; null when the run has no tenant (yet). */
  tenant: runTenantSchema.nullable().optional(),
  /** A provisioning run started by a batch: the batch's id (`GET /batches/:id`). */
  batchId: z.uuid().optional(),
});
export type ProgressRecord = z.infer<typeof progressRecordSchema>;

export const listProgressQuerySchema = paginationQuerySchema.extend({
  status: z.enum(RUN_STATUSES).optional(),
  tenantId: uuidSchema.optional(),
  templateId: uuidSchema.optional(),
  kind: z.enum(RUN_KINDS).optional(),
});
export const progressPageSchema = pageSchema(progressRecordSchema);
