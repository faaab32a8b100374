/**
 * Requesting a provisioning run (the API side): validate everything, hash the admin password,
 * reserve the slug and subdomain with the tenant row, write the progress record — all in one
 * transaction, so a rejected request writes nothing — then start the workflow.
 */
import { createHash } from "node:crypto";
import { eq, or } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { provisioningProgress, provisioningSecrets, tenants } from "../../db/schema.ts";
import type { ProgressRecord } from "../../schemas/progress.ts";
import type { ProvisionFromTemplate } from "../../schemas/provisioning.ts";
import { initialDataIssues, type TemplateSpec } from "../../schemas/templates.ts";
import {
  ConflictError,
  type FieldIssue,
  RequestValidationError,
  ServiceUnavailableError,
  sqlState,
} from "../../shared/errors.ts";
import type { Logger } from "../../shared/logger.ts";
import { executionName } from "../../workflows/execution-name.ts";
import { PROVISIONING_STEPS, type WorkflowKind } from "../../workflows/step-catalog.ts";
import type { WorkflowRunner } from "../../workflows/workflow-runner.ts";
import { recordAudit } from "../audit.ts";
import { hashPassword } from "../auth/password.ts";
import {
  initialSteps,
  type ProgressRow,
  saveProgress,
  toProgressRecord,
} from "../progress/progress-store.ts";
import { assertTemplateRules } from "../templates/template-rules.ts";
import { mergeInitialData, type ProvisioningMetadata } from "./run-spec.ts";

export interface ProvisioningDeps {
  readonly db: Database;
  readonly workflows: WorkflowRunner;
  readonly logger: Logger;
  readonly clock: () => Date;
}

export interface ProvisionInput {
  readonly request: ProvisionFromTemplate;
  /** From a template: its id and current version; custom: none. */
  readonly template: { readonly id: string; readonly version: number } | null;
  readonly spec: TemplateSpec;
  readonly idempotencyKey?: string | undefined;
  readonly actor: { readonly keyId: string; readonly requestId: string };
}

/** sha256 of the request without the password: equal bodies under one Idempotency-Key are one run. */
function requestHash(input: ProvisionInput): string {
  const { adminPassword: _omitted, ...rest } = input.request;
  const canonical = JSON.stringify({ rest, template: input.template?.id ?? input.spec });
  return createHash("sha256").update(canonical).digest("hex");
}

function fail(issues: FieldIssue[]): never {
  throw new RequestValidationError(issues.map((i) => `${i.field}: ${i.message}`).join("; "), issues);
}

async function existingForKey(db: Database, key: string, hash: string): Promise<ProgressRecord | undefined> {
  const [row] = await db
    .select()
    .from(provisioningProgress)
    .where(eq(provisioningProgress.idempotencyKey, key));
  if (!row) return undefined;
  if (row.requestHash !== hash) {
    throw new ConflictError("this Idempotency-Key was used with a different request", {
      fields: [{ field: "Idempotency-Key", message: "reused with a different body" }],
    });
  }
  return toProgressRecord(row);
}

async function assertNameFree(db: Database, slug: string, subdomain: string): Promise<void> {
  const taken = await db
    .select({ slug: tenants.slug, subdomain: tenants.subdomain })
    .from(tenants)
    .where(or(eq(tenants.slug, slug), eq(tenants.subdomain, subdomain)));
  const issues: FieldIssue[] = [];
  if (taken.some((t) => t.slug === slug))
    issues.push({ field: "slug", message: `"${slug}" is already taken` });
  if (taken.some((t) => t.subdomain === subdomain)) {
    issues.push({ field: "subdomain", message: `"${subdomain}" is already taken` });
  }
  if (issues.length > 0)
    throw new ConflictError(issues.map((i) => `${i.field}: ${i.message}`).join("; "), { fields: issues });
}

/** Starts a run; returns the progress record and whether it is new (false: an idempotent repeat). */
export async function requestProvisioning(
  deps: ProvisioningDeps,
  input: ProvisionInput,
): Promise<{ record: ProgressRecord; created: boolean }> {
  const { db, clock } = deps;
  const { request, spec } = input;
  if (!input.template) assertTemplateRules(spec, "template");
  const merged = mergeInitialData(spec.initialData, request.initialData);
  const limitIssues = initialDataIssues(merged, spec.limits, ["initialData"]);
  if (limitIssues.length > 0) fail(limitIssues.map((i) => ({ field: i.path.join("."), message: i.message })));

  const hash = requestHash(input);
  if (input.idempotencyKey) {
    const existing = await existingForKey(db, input.idempotencyKey, hash);
    if (existing) return { record: existing, created: false };
  }
  // The hash is computed off the main thread while the names are checked.
  const [, passwordHash] = await Promise.all([
    assertNameFree(db, request.slug, request.subdomain),
    hashPassword(request.adminPassword),
  ]);

  const metadata: ProvisioningMetadata = {
    tenant: { slug: request.slug, name: request.name, subdomain: request.subdomain },
    admin: { name: request.adminName, email: request.adminEmail.toLowerCase() },
    ...(request.initialData ? { initialDataOverrides: request.initialData } : {}),
    ...(input.template ? {} : { customTemplate: spec }),
  };
  const now = clock();
  let progressId: string;
  try {
    progressId = await db.transaction(async (tx) => {
      const [tenant] = await tx
        .insert(tenants)
        .values({
          slug: request.slug,
          subdomain: request.subdomain,
          name: request.name,
          status: "pending",
          templateId: input.template?.id ?? null,
          templateVersion: input.template?.version ?? null,
          createdAt: now,
          updatedAt: now,
        })
        .returning({ id: tenants.id });
      const [progress] = await tx
        .insert(provisioningProgress)
        .values({
          tenantId: tenant!.id,
          templateId: input.template?.id ?? null,
          templateVersion: input.template?.version ?? null,
          kind: "provision",
          status: "pending",
          totalSteps: PROVISIONING_STEPS.length,
          completedSteps: 0,
          steps: initialSteps(PROVISIONING_STEPS),
          warnings: [],
          metadata: metadata as unknown as Record<string, unknown>,
          idempotencyKey: input.idempotencyKey ?? null,
          requestHash: hash,
          createdAt: now,
          updatedAt: now,
        })
        .returning({ id: provisioningProgress.id });
      await tx
        .insert(provisioningSecrets)
        .values({ progressId: progress!.id, adminPasswordHash: passwordHash });
      await recordAudit(tx, {
        actorKeyId: input.actor.keyId,
        action: "provision.start",
        targetType: "progress",
        targetId: progress!.id,
        tenantId: tenant!.id,
        details: {
          slug: request.slug,
          subdomain: request.subdomain,
          templateId: input.template?.id ?? null,
          templateVersion: input.template?.version ?? null,
          custom: input.template === null,
          adminEmail: metadata.admin.email,
        },
        requestId: input.actor.requestId,
      });
      return progress!.id;
    });
  } catch (error) {
    if (sqlState(error) === "23505") {
      // Lost a race: another request took the slug/subdomain or the idempotency key first.
      if (input.idempotencyKey) {
        const existing = await existingForKey(db, input.idempotencyKey, hash);
        if (existing) return { record: existing, created: false };
      }
      await assertNameFree(db, request.slug, request.subdomain);
      throw new ConflictError("the slug or subdomain was taken by a concurrent request");
    }
    throw error;
  }

  const row = await startExecution(deps, progressId, "CreateTenant", 1, spec.postProvisioningSteps);
  return { record: toProgressRecord(row), created: true };
}

/** Starts (or restarts) a provisioning execution and stores its reference on the run. */
export async function startExecution(
  deps: ProvisioningDeps,
  progressId: string,
  startAt: string,
  attempt: number,
  postProvisioningSteps: readonly string[],
): Promise<ProgressRow> {
  return startWorkflow(deps, "provisioning", progressId, startAt, attempt, {
    postProvisioningSteps: [...postProvisioningSteps],
  });
}

/**
 * Starts (or restarts) an execution of any workflow for a run and stores its reference on the
 * run (one statement; returns the updated row); when the engine refuses, the run is failed
 * (recoverable) and the caller gets a 503.
 */
export async function startWorkflow(
  deps: ProvisioningDeps,
  kind: WorkflowKind,
  progressId: string,
  startAt: string,
  attempt: number,
  input: Readonly<Record<string, unknown>> = {},
): Promise<ProgressRow> {
  const { db, clock, workflows, logger } = deps;
  try {
    const ref = await workflows.start(kind, executionName(progressId, attempt, clock()), {
      ...input,
      progressId,
      startAt,
    });
    return await saveProgress(db, progressId, { executionRef: ref }, clock());
  } catch (error) {
    logger.error(`could not start the ${kind} workflow`, { progressId, error });
    await db.transaction(async (tx) => {
      await saveProgress(
        tx,
        progressId,
        {
          status: "failed",
          error: `the workflow could not be started: ${(error as Error).message}`,
          completedAt: clock(),
        },
        clock(),
      );
    });
    throw new ServiceUnavailableError("the workflow could not be started; recover the run later", {
      cause: error,
    });
  }
}
