/**
 * Atomic steps (`runAtomicStep`) on whatever TEST_DATABASE says: when this container wrote a run's
 * previous step, the next step marks its attempt in the statement that does its work (one call) —
 * and still keeps the contract: a cancel or another writer since is seen (the row is compared
 * whole), a failed attempt is counted and recorded, nothing of a refused step is kept.
 */
import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { provisioningProgress } from "../../functions/db/schema.ts";
import { queryRows } from "../../functions/db/sql.ts";
import { outboxChannel } from "../../functions/domain/notifications/notification-channel.ts";
import { getProgressRow } from "../../functions/domain/runs/progress-store.ts";
import {
  initialSteps,
  markCompleted,
  markRunning,
  updateStep,
} from "../../functions/domain/runs/step-state.ts";
import { knownRun, runAtomicStep } from "../../functions/domain/steps/run-step.ts";
import type { StepDeps } from "../../functions/domain/steps/step-deps.ts";
import { RunCancelledError, ValidationError } from "../../functions/shared/errors.ts";
import { silentLogger } from "../../functions/shared/logger.ts";
import { PROVISIONING_STEPS } from "../../functions/workflows/step-catalog.ts";
import { openTestDatabase, type TestDatabase } from "../support/database.ts";

let t: TestDatabase;
let deps: StepDeps;
const table = `atomic_${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  t = await openTestDatabase();
  deps = {
    db: t.db,
    logger: silentLogger,
    clock: () => new Date(),
    notifications: outboxChannel,
    lockTimeoutMs: 5000,
  };
  await t.db.execute(sql.raw(`CREATE TABLE ${table} (run uuid, step text)`));
});

afterAll(async () => {
  await t?.destroy();
});

async function newRun(): Promise<string> {
  const steps = initialSteps(PROVISIONING_STEPS);
  const [row] = await t.db
    .insert(provisioningProgress)
    .values({ status: "pending", totalSteps: steps.length, steps })
    .returning({ id: provisioningProgress.id });
  return row!.id;
}

/** A step whose work inserts one row naming it (so a step done twice, or half, shows). */
const insertRow = (id: string, step: string) => async () => [
  { run: sql.raw(`INSERT INTO ${table} (run, step) VALUES ('${id}', '${step}')`) },
];

async function rowsOf(id: string): Promise<string[]> {
  const rows = await queryRows<{ step: string }>(
    t.db,
    sql`SELECT step FROM ${sql.raw(table)} WHERE run = ${id}::uuid ORDER BY step`,
  );
  return rows.map((r) => r.step);
}

describe("runAtomicStep after a step this container wrote", () => {
  it("marks and completes the next step in its one statement", async () => {
    // Prepare
    const id = await newRun();
    await runAtomicStep(deps, id, "CreateTenant", insertRow(id, "CreateTenant"));
    expect(knownRun(id)?.steps.find((s) => s.name === "CreateTenant")?.status).toBe("completed");

    // Act
    const outcome = await runAtomicStep(deps, id, "CreateAdminUser", insertRow(id, "CreateAdminUser"));

    // Assess
    const row = await getProgressRow(t.db, id);
    const step = row?.steps.find((s) => s.name === "CreateAdminUser");
    expect(outcome).toBe("completed");
    expect(step).toMatchObject({ status: "completed", attempts: 1, error: null });
    expect(step?.startedAt).not.toBeNull();
    expect(row).toMatchObject({ status: "running", currentStep: "CreateAdminUser", completedSteps: 2 });
    expect(await rowsOf(id)).toEqual(["CreateAdminUser", "CreateTenant"]);
    // What the container remembers is the row as it is.
    expect(knownRun(id)?.steps).toEqual(row?.steps);
  });

  it("sees a cancel made elsewhere since, and does nothing", async () => {
    // Prepare
    const id = await newRun();
    await runAtomicStep(deps, id, "CreateTenant", insertRow(id, "CreateTenant"));
    await t.db
      .update(provisioningProgress)
      .set({ status: "cancelled" })
      .where(eq(provisioningProgress.id, id));

    // Act
    const attempt = runAtomicStep(deps, id, "CreateAdminUser", insertRow(id, "CreateAdminUser"));

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(RunCancelledError);
    expect(await rowsOf(id)).toEqual(["CreateTenant"]);
    expect(knownRun(id)).toBeUndefined();
  });

  it("goes the long way when another writer changed the row since, and does not do the step again", async () => {
    // Prepare: another execution completed the next step after this container wrote the row.
    const id = await newRun();
    await runAtomicStep(deps, id, "CreateTenant", insertRow(id, "CreateTenant"));
    const now = new Date();
    const steps = updateStep(knownRun(id)!.steps, "CreateAdminUser", (s) =>
      markCompleted(markRunning(s, now), now),
    );
    await t.db.update(provisioningProgress).set({ steps }).where(eq(provisioningProgress.id, id));

    // Act
    const outcome = await runAtomicStep(deps, id, "CreateAdminUser", insertRow(id, "CreateAdminUser"));

    // Assess
    const step = (await getProgressRow(t.db, id))?.steps.find((s) => s.name === "CreateAdminUser");
    expect(outcome).toBe("already-completed");
    expect(step).toMatchObject({ status: "completed", attempts: 1 });
    expect(await rowsOf(id)).toEqual(["CreateTenant"]);
  });

  it("counts and records an attempt whose one statement failed, keeping none of its work", async () => {
    // Prepare
    const id = await newRun();
    await runAtomicStep(deps, id, "CreateTenant", insertRow(id, "CreateTenant"));

    // Act
    const attempt = runAtomicStep(deps, id, "CreateAdminUser", async () => [
      { run: sql.raw(`INSERT INTO ${table} (run, step) VALUES ('${id}', 'CreateAdminUser')`) },
      { check: sql`SELECT 'no admin for you'::text AS problem` },
    ]);

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(ValidationError);
    const row = await getProgressRow(t.db, id);
    const step = row?.steps.find((s) => s.name === "CreateAdminUser");
    expect(step).toMatchObject({ status: "failed", attempts: 1 });
    expect(step?.attemptErrors).toMatchObject([{ attempt: 1, name: "ValidationError", transient: false }]);
    expect(row?.currentStep).toBe("CreateAdminUser");
    expect(await rowsOf(id)).toEqual(["CreateTenant"]);
    expect(knownRun(id)).toBeUndefined();
  });
});
