/**
 * Requesting a provisioning run (the API side): validate everything, hash the admin password,
 * reserve the slug and subdomain with the tenant row, write the progress record — all in one
 * statement (or one transaction), so a rejected request writes nothing — then start the workflow.
 */
import { createHash, randomUUID } from "node:crypto";
import { eq, or, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { provisioningSecrets, runInputs, tenants } from "../../db/schema.ts";
import { type ChainedWrite, writesAsOne } from "../../db/sql.ts";
import type { ProgressRecord } from "../../schemas/progress.ts";
import type { ProvisionFromTemplate } from "../../schemas/provisioning.ts";
import { initialDataIssues, type TemplateSpec } from "../../schemas/templates.ts";
import { ConflictError, type FieldIssue, RequestValidationError, sqlState } from "../../shared/errors.ts";
import { PROVISIONING_STEPS } from "../../workflows/step-catalog.ts";
import type { Actor } from "../actor.ts";
import { type AuditEntry, auditStatement, recordAudit } from "../audit.ts";
import { hashPassword } from "../auth/password.ts";
import { type CellDirectory, cellsOf } from "../cells/cell-directory.ts";
import { isNoCell, noCellError, placementSql } from "../cells/placement.ts";
import {
  findRunByIdempotencyKey,
  insertRunStatement,
  type ProgressRow,
  toProgressRecord,
} from "../runs/progress-store.ts";
import { emitRunStarted, runStartedWrites } from "../runs/run-events.ts";
import { type RunDeps, startRun } from "../runs/start-run.ts";
import { initialSteps } from "../runs/step-state.ts";
import { assertTemplateRules } from "../templates/template-rules.ts";
import { isReplayedPassword } from "./replay-password.ts";
import { mergeInitialData, type ProvisioningMetadata } from "./run-spec.ts";

/** Where invitation links point, and how long they work (the API's configuration). */
export interface InvitationSettings {
  readonly baseUrl: string | null;
  readonly ttlHours: number;
}

export interface ProvisionDeps extends RunDeps {
  readonly invitations?: InvitationSettings | undefined;
}

export interface ProvisionInput {
  readonly request: ProvisionFromTemplate;
  /** From a template: its id and current version; custom: none. */
  readonly template: { readonly id: string; readonly version: number } | null;
  readonly spec: TemplateSpec;
  readonly idempotencyKey?: string | undefined;
  readonly actor: Actor;
}

/**
 * sha256 of the request without the password: equal bodies under one Idempotency-Key are one run
 * once the password is shown to be the same too (replay-password.ts).
 */
function requestHash(input: ProvisionInput): string {
  const { adminPassword, ...rest } = input.request;
  // `invite` only when set, so requests with a password hash as they did before invitations.
  const invite = adminPassword === undefined ? { invite: true } : {};
  const canonical = JSON.stringify({ rest, template: input.template?.id ?? input.spec, ...invite });
  return createHash("sha256").update(canonical).digest("hex");
}

function fail(issues: FieldIssue[]): never {
  throw new RequestValidationError(issues.map((i) => `${i.field}: ${i.message}`).join("; "), issues);
}

async function existingForKey(
  db: Database,
  key: string,
  hash: string,
  password: string | undefined,
): Promise<ProgressRecord | undefined> {
  const row = await findRunByIdempotencyKey(db, key);
  if (!row) return undefined;
  // Without a password the request hash says it all (it records that the admin is invited).
  const samePassword = password === undefined || (await isReplayedPassword(db, row, password));
  if (row.requestHash !== hash || !samePassword) {
    throw new ConflictError("this Idempotency-Key was used with a different request", {
      fields: [{ field: "Idempotency-Key", message: "reused with a different body" }],
    });
  }
  return toProgressRecord(row);
}

/** 409 naming `slug` and/or `subdomain` when a tenant (or a scheduled provisioning) holds them. */
export async function assertNameFree(db: Database, slug: string, subdomain: string): Promise<void> {
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

/**
 * How the admin of a request without a password is invited: the welcome notification carries the
 * link, so the template must send it, and the deployment must say where the link points.
 */
function invitationFor(
  deps: ProvisionDeps,
  request: ProvisionFromTemplate,
  spec: TemplateSpec,
): ProvisioningMetadata["admin"]["invitation"] {
  if (request.adminPassword !== undefined) return undefined;
  if (!spec.postProvisioningSteps.includes("send-welcome-notification")) {
    fail([
      {
        field: "adminPassword",
        message:
          "required: this template sends no welcome notification to carry an invitation (send-welcome-notification)",
      },
    ]);
  }
  const baseUrl = deps.invitations?.baseUrl;
  if (!baseUrl) {
    fail([
      {
        field: "adminPassword",
        message: "required: this deployment has no INVITATION_BASE_URL to invite an admin with",
      },
    ]);
  }
  return { baseUrl, ttlHours: deps.invitations?.ttlHours ?? 72 };
}

/**
 * Every check of a provisioning request that needs no lock: the inline template's rules, the
 * initial data against the limits, how the admin is invited. Returns the run's metadata.
 */
export function checkedProvisioningMetadata(
  deps: ProvisionDeps,
  input: ProvisionInput,
): ProvisioningMetadata {
  const { request, spec } = input;
  if (!input.template) assertTemplateRules(spec, "template");
  const invitation = invitationFor(deps, request, spec);
  const merged = mergeInitialData(spec.initialData, request.initialData);
  const limitIssues = initialDataIssues(merged, spec.limits, ["initialData"]);
  if (limitIssues.length > 0) fail(limitIssues.map((i) => ({ field: i.path.join("."), message: i.message })));
  return {
    tenant: { slug: request.slug, name: request.name, subdomain: request.subdomain },
    admin: {
      name: request.adminName,
      email: request.adminEmail.toLowerCase(),
      ...(invitation ? { invitation } : {}),
    },
    ...(request.initialData ? { initialDataOverrides: request.initialData } : {}),
    ...(input.template ? {} : { customTemplate: spec }),
  };
}

/**
 * The metadata the progress row keeps: the inline spec and the initial-data overrides, which can be
 * far larger than a Data API row (64 KB), are replaced by `inputs: true` and go to `run_inputs`.
 */
export function runMetadata(metadata: ProvisioningMetadata): ProvisioningMetadata {
  const { customTemplate, initialDataOverrides, ...rest } = metadata;
  return customTemplate || initialDataOverrides ? { ...rest, inputs: true } : rest;
}

/** Stores the run's inline spec and overrides in `run_inputs` (in the run's transaction), if it has any. */
export async function insertRunInputs(
  tx: Database,
  progressId: string,
  metadata: ProvisioningMetadata,
  now: Date,
): Promise<void> {
  if (!metadata.customTemplate && !metadata.initialDataOverrides) return;
  await tx.insert(runInputs).values({
    progressId,
    customTemplate: (metadata.customTemplate ?? null) as Record<string, unknown> | null,
    initialDataOverrides: (metadata.initialDataOverrides ?? null) as Record<string, unknown> | null,
    createdAt: now,
  });
}

/** The `provision.start` audit entry of a run. */
function provisionStartAudit(
  progress: ProgressRow,
  metadata: ProvisioningMetadata,
  actor: Actor,
): AuditEntry {
  return {
    actorKeyId: actor.keyId,
    action: "provision.start",
    targetType: "progress",
    targetId: progress.id,
    tenantId: progress.tenantId,
    details: {
      slug: metadata.tenant.slug,
      subdomain: metadata.tenant.subdomain,
      templateId: progress.templateId,
      templateVersion: progress.templateVersion,
      custom: progress.templateId === null,
      adminEmail: metadata.admin.email,
      adminInvited: metadata.admin.invitation !== undefined,
    },
    requestId: actor.requestId,
  };
}

/** The run's `run.started` event and `provision.start` audit entry (in the run's transaction). */
export async function recordProvisionStart(
  tx: Database,
  progress: ProgressRow,
  metadata: ProvisioningMetadata,
  actor: Actor,
  now: Date,
): Promise<void> {
  await emitRunStarted(tx, progress, now);
  await recordAudit(tx, provisionStartAudit(progress, metadata, actor));
}

/**
 * Writes a new run: the tenant row that reserves its names, the progress record, the password
 * hash, the run's large inputs, its `started` event and audit entry — all or nothing. The ids are
 * made here, so no statement needs another's answer: they go to the database as ONE statement
 * (`writesAsOne`: one Data API call instead of a transaction's seven). A run with large inputs
 * (`run_inputs`: an inline spec, overrides), or otherwise too long for one call's SQL text, is
 * written in a transaction, statement by statement.
 */
async function insertProvisioningRun(
  db: Database,
  cells: CellDirectory,
  input: ProvisionInput,
  metadata: ProvisioningMetadata,
  hash: string,
  passwordHash: string | null,
  now: Date,
): Promise<ProgressRow> {
  const { request } = input;
  const tenantId = randomUUID();
  const { statement: runStatement, row: run } = insertRunStatement(db, {
    id: randomUUID(),
    kind: "provision",
    tenantId,
    templateId: input.template?.id ?? null,
    templateVersion: input.template?.version ?? null,
    steps: initialSteps(PROVISIONING_STEPS),
    metadata: { ...runMetadata(metadata) },
    idempotencyKey: input.idempotencyKey ?? null,
    requestHash: hash,
    now,
  });
  const writes: ChainedWrite[] = [
    db
      .insert(tenants)
      .values({
        id: tenantId,
        slug: request.slug,
        subdomain: request.subdomain,
        name: request.name,
        status: "pending",
        templateId: input.template?.id ?? null,
        templateVersion: input.template?.version ?? null,
        cell: placementSql(cells, input.template?.id ?? null),
        createdAt: now,
        updatedAt: now,
      })
      .getSQL(),
    runStatement,
    ...(passwordHash === null
      ? []
      : [
          db
            .insert(provisioningSecrets)
            .values({ progressId: run.id, adminPasswordHash: passwordHash })
            .getSQL(),
        ]),
    ...runStartedWrites(run, now),
    auditStatement(db, provisionStartAudit(run, metadata, input.actor)),
  ];
  const hasInputs = Boolean(metadata.customTemplate || metadata.initialDataOverrides);
  const one = hasInputs ? undefined : writesAsOne(writes);
  if (one !== undefined) {
    await db.execute(one);
  } else {
    await db.transaction(async (tx) => {
      for (const write of writes)
        await tx.execute("ctes" in write ? sql`WITH ${write.ctes("")} SELECT 1` : write);
      await insertRunInputs(tx, run.id, metadata, now);
    });
  }
  return run;
}

/** Starts a run; returns the progress record and whether it is new (false: an idempotent repeat). */
export async function requestProvisioning(
  deps: ProvisionDeps,
  input: ProvisionInput,
): Promise<{ record: ProgressRecord; created: boolean }> {
  const { db, clock } = deps;
  const { request, spec } = input;
  const metadata = checkedProvisioningMetadata(deps, input);

  const hash = requestHash(input);
  if (input.idempotencyKey) {
    const existing = await existingForKey(db, input.idempotencyKey, hash, request.adminPassword);
    if (existing) return { record: existing, created: false };
  }
  // Names are not checked first: the tenant row's unique slug and subdomain refuse a taken one,
  // and the conflict is then named below (one call fewer for every request that succeeds).
  const passwordHash = request.adminPassword === undefined ? null : await hashPassword(request.adminPassword);

  const now = clock();
  let run: ProgressRow;
  try {
    run = await insertProvisioningRun(db, cellsOf(deps), input, metadata, hash, passwordHash, now);
  } catch (error) {
    if (isNoCell(error)) throw await noCellError(db, cellsOf(deps), input.template?.id ?? null);
    if (sqlState(error) === "23505") {
      // Lost a race: another request took the slug/subdomain or the idempotency key first.
      if (input.idempotencyKey) {
        const existing = await existingForKey(db, input.idempotencyKey, hash, request.adminPassword);
        if (existing) return { record: existing, created: false };
      }
      await assertNameFree(db, request.slug, request.subdomain);
      throw new ConflictError("the slug or subdomain was taken by a concurrent request");
    }
    throw error;
  }

  const started = await startRun(deps, run, {
    input: { postProvisioningSteps: [...spec.postProvisioningSteps] },
  });
  return { record: toProgressRecord(started), created: true };
}
