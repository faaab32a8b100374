/** Bulk provisioning: a batch of provisioning requests run as one `batch` run with a child run each. */
import { z } from "zod";
import { instantSchema, isoDateTime, pageSchema, paginationQuerySchema, uuidSchema } from "./common.ts";
import { progressWarningSchema, RUN_STATUSES } from "./progress.ts";
import { provisionFields } from "./provisioning.ts";
import { templateSpecSchema } from "./templates.ts";

/** Most items one batch takes (a larger onboarding is several batches). */
export const MAX_BATCH_ITEMS = 1000;
/** Children of one batch provisioning at once, at most (and by default). */
export const MAX_BATCH_CONCURRENCY = 100;
export const DEFAULT_BATCH_CONCURRENCY = 10;

/**
 * One item: a provisioning request (as `POST /templates/:id/provision`) naming its template by
 * `templateId`, or carrying an inline spec in `template` (as `POST /provision/custom`) — one of the two.
 */
export const batchItemSchema = z
  .strictObject({
    ...provisionFields,
    templateId: uuidSchema.optional(),
    template: templateSpecSchema.optional(),
  })
  .superRefine((item, ctx) => {
    if ((item.templateId === undefined) === (item.template === undefined)) {
      ctx.addIssue({
        code: "custom",
        path: ["templateId"],
        message: "give either templateId or an inline template, not both or neither",
      });
    }
  });
export type BatchItem = z.infer<typeof batchItemSchema>;

export const createBatchSchema = z.strictObject({
  items: z.array(batchItemSchema).min(1).max(MAX_BATCH_ITEMS),
  /** Children provisioning at the same time. */
  maxConcurrency: z.number().int().min(1).max(MAX_BATCH_CONCURRENCY).default(DEFAULT_BATCH_CONCURRENCY),
  /**
   * Failed children tolerated, as a percentage of the items: once more than
   * `floor(items × percent / 100)` children of one attempt have failed, no further child is started
   * and the batch fails. 0 (the default): the first failure stops the batch.
   */
  toleratedFailurePercent: z.number().min(0).max(100).default(0),
});
export type CreateBatchRequest = z.infer<typeof createBatchSchema>;

/** `POST /schedule-batch`: a batch and when to start it. */
export const scheduleBatchSchema = z.strictObject({
  at: instantSchema("2030-01-31T09:00:00Z"),
  ...createBatchSchema.shape,
});

/** `GET /batches/:id`: its children are paged (and may be filtered by status). */
export const getBatchQuerySchema = paginationQuerySchema.extend({
  status: z.enum(RUN_STATUSES).optional(),
});

export const batchCountsSchema = z.object({
  /** Not started yet (pending, no execution). */
  queued: z.number().int(),
  pending: z.number().int(),
  running: z.number().int(),
  completed: z.number().int(),
  failed: z.number().int(),
  cancelled: z.number().int(),
});
export type BatchCounts = z.infer<typeof batchCountsSchema>;

export const batchChildSchema = z.object({
  /** The child's progress record (`GET /progress/:id`: its steps; retry, recover, cleanup there). */
  id: uuidSchema,
  index: z.number().int(),
  tenantId: uuidSchema.nullable(),
  slug: z.string().nullable(),
  name: z.string().nullable(),
  status: z.enum(RUN_STATUSES),
  /** Pending and never started (waiting for a slot, or stopped by the failure budget). */
  queued: z.boolean(),
  currentStep: z.string().nullable(),
  error: z.string().nullable(),
  attempt: z.number().int(),
  completedAt: isoDateTime.nullable(),
});
export type BatchChild = z.infer<typeof batchChildSchema>;

export const budgetExceededSchema = z.object({
  at: isoDateTime,
  failed: z.number().int(),
  tolerated: z.number().int(),
});

export const batchSchema = z.object({
  /** The batch's own progress record id (`GET /progress/:id` shows it as a run of kind `batch`). */
  id: uuidSchema,
  status: z.enum(RUN_STATUSES),
  attempt: z.number().int(),
  total: z.number().int(),
  maxConcurrency: z.number().int(),
  toleratedFailurePercent: z.number(),
  /** Failed children one attempt may have before no further child is started. */
  toleratedFailures: z.number().int(),
  counts: batchCountsSchema,
  /** Set when this attempt stopped starting children. */
  budgetExceeded: budgetExceededSchema.nullable(),
  error: z.string().nullable(),
  warnings: z.array(progressWarningSchema),
  createdAt: isoDateTime,
  startedAt: isoDateTime.nullable(),
  completedAt: isoDateTime.nullable(),
  children: pageSchema(batchChildSchema),
});
export type Batch = z.infer<typeof batchSchema>;
