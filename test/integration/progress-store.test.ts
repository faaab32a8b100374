/**
 * The progress store (functions/domain/runs/progress-store.ts) on whatever TEST_DATABASE says: the
 * attempt mark (`markStepAttempt`, one autocommit UPDATE that changes the steps JSON in SQL, and
 * must make the same change as `markRunning` in step-state.ts), and the work transaction's lock
 * that also sets `lock_timeout`.
 */
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { provisioningProgress } from "../../functions/db/schema.ts";
import { queryRows } from "../../functions/db/sql.ts";
import {
  getProgressRow,
  lockProgressRow,
  markStepAttempt,
} from "../../functions/domain/runs/progress-store.ts";
import { initialSteps, markRunning, updateStep } from "../../functions/domain/runs/step-state.ts";
import type { ProgressStep } from "../../functions/schemas/progress.ts";
import { PROVISIONING_STEPS } from "../../functions/workflows/step-catalog.ts";
import { openTestDatabase, type TestDatabase } from "../support/database.ts";

let t: TestDatabase;

beforeAll(async () => {
  t = await openTestDatabase();
});

afterAll(async () => {
  await t?.destroy();
});

async function newRun(
  changes: Partial<typeof provisioningProgress.$inferInsert> = {},
  steps: ProgressStep[] = initialSteps(PROVISIONING_STEPS),
): Promise<string> {
  const [row] = await t.db
    .insert(provisioningProgress)
    .values({ status: "pending", totalSteps: steps.length, steps, ...changes })
    .returning({ id: provisioningProgress.id });
  return row!.id;
}

async function stepsOf(id: string): Promise<ProgressStep[]> {
  return (await getProgressRow(t.db, id))?.steps ?? [];
}

const at = (iso: string) => new Date(iso);

describe("markStepAttempt", () => {
  it("marks the step running with one more attempt, keeps the first start, leaves the others alone", async () => {
    // Prepare
    const id = await newRun();
    const before = await stepsOf(id);

    // Act
    const first = await markStepAttempt(t.db, id, "RunMigrations", undefined, at("2026-01-02T03:04:05.000Z"));
    const afterFirst = await getProgressRow(t.db, id);
    const second = await markStepAttempt(
      t.db,
      id,
      "RunMigrations",
      undefined,
      at("2026-01-02T03:09:00.000Z"),
    );
    const steps = await stepsOf(id);

    // Assess
    expect([first, second]).toEqual(["marked", "marked"]);
    expect(afterFirst).toMatchObject({ status: "running", currentStep: "RunMigrations" });
    expect(afterFirst?.startedAt?.toISOString()).toBe("2026-01-02T03:04:05.000Z");
    const step = steps.find((s) => s.name === "RunMigrations");
    expect(step).toMatchObject({ status: "running", attempts: 2, startedAt: "2026-01-02T03:04:05.000Z" });
    expect(steps.filter((s) => s.name !== "RunMigrations")).toEqual(
      before.filter((s) => s.name !== "RunMigrations"),
    );
    expect(steps.map((s) => s.name)).toEqual(before.map((s) => s.name));
  });

  it("counts one step attempt per pass over a Map step's actions and one attempt per action", async () => {
    // Prepare
    const id = await newRun();
    const now = at("2026-01-02T03:04:05.000Z");

    // Act
    await markStepAttempt(t.db, id, "PostProvisioningSteps", "send-welcome-notification", now);
    await markStepAttempt(t.db, id, "PostProvisioningSteps", "create-default-reports", now);
    await markStepAttempt(t.db, id, "PostProvisioningSteps", "create-default-reports", now);
    const step = (await stepsOf(id)).find((s) => s.name === "PostProvisioningSteps");

    // Assess
    expect(step).toMatchObject({ status: "running", attempts: 1 });
    expect(step?.actions).toEqual([
      { name: "send-welcome-notification", status: "running", attempts: 1, completedAt: null, error: null },
      { name: "create-default-reports", status: "running", attempts: 2, completedAt: null, error: null },
    ]);
  });

  it("a Map step resumed after a failure counts a new attempt; one that has failed starts no action", async () => {
    // Prepare: a first pass failed at its first action; a resume set the step pending again
    const failedAction = {
      name: "send-welcome-notification",
      status: "failed" as const,
      attempts: 1,
      completedAt: null,
      error: { name: "NetworkError", message: "down" },
    };
    const withMapStep = (status: "pending" | "failed") =>
      initialSteps(PROVISIONING_STEPS).map((s) =>
        s.name === "PostProvisioningSteps" ? { ...s, status, attempts: 1, actions: [failedAction] } : s,
      );
    const resumed = await newRun({ status: "running" }, withMapStep("pending"));
    const failing = await newRun({ status: "running" }, withMapStep("failed"));
    const failingBefore = await getProgressRow(t.db, failing);

    // Act
    const resumedOutcome = await markStepAttempt(
      t.db,
      resumed,
      "PostProvisioningSteps",
      "send-welcome-notification",
      new Date(),
    );
    const failingOutcome = await markStepAttempt(
      t.db,
      failing,
      "PostProvisioningSteps",
      "create-default-reports",
      new Date(),
    );
    const step = (await stepsOf(resumed)).find((s) => s.name === "PostProvisioningSteps");

    // Assess
    expect(resumedOutcome).toBe("marked");
    expect(step).toMatchObject({ status: "running", attempts: 2 });
    expect(step?.actions?.[0]).toMatchObject({ status: "running", attempts: 2 });
    expect(failingOutcome).toBe("not-marked");
    expect(await getProgressRow(t.db, failing)).toEqual(failingBefore);
  });

  it("changes nothing for a completed step or action, an unknown step, or a run no longer active", async () => {
    // Prepare
    const done = initialSteps(PROVISIONING_STEPS).map((s) =>
      s.name === "CreateTenant"
        ? { ...s, status: "completed" as const, attempts: 1 }
        : s.name === "PostProvisioningSteps"
          ? {
              ...s,
              status: "running" as const,
              attempts: 1,
              actions: [
                {
                  name: "create-default-reports",
                  status: "completed" as const,
                  attempts: 1,
                  completedAt: "2026-01-01T00:00:00.000Z",
                  error: null,
                },
              ],
            }
          : s,
    );
    const running = await newRun({ status: "running" }, done);
    const cancelled = await newRun({ status: "cancelled" });
    const completed = await newRun({ status: "completed" });
    const before = await getProgressRow(t.db, running);

    // Act
    const outcomes = [
      await markStepAttempt(t.db, running, "CreateTenant", undefined, new Date()),
      await markStepAttempt(t.db, running, "PostProvisioningSteps", "create-default-reports", new Date()),
      await markStepAttempt(t.db, running, "NoSuchStep", undefined, new Date()),
      await markStepAttempt(t.db, cancelled, "CreateTenant", undefined, new Date()),
      await markStepAttempt(t.db, completed, "CreateTenant", undefined, new Date()),
    ];

    // Assess
    expect(outcomes).toEqual(["not-marked", "not-marked", "not-marked", "not-marked", "not-marked"]);
    expect(await getProgressRow(t.db, running)).toEqual(before);
    expect((await getProgressRow(t.db, cancelled))?.status).toBe("cancelled");
    expect((await stepsOf(cancelled)).every((s) => s.attempts === 0)).toBe(true);
  });
});

describe("lockProgressRow with a lock timeout", () => {
  it("returns the row and sets lock_timeout for the rest of the transaction only", async () => {
    // Prepare
    const id = await newRun();

    // Act
    const inside = await t.db.transaction(async (tx) => {
      const row = await lockProgressRow(tx, id, 250);
      const [setting] = await queryRows<{ lock_timeout: string }>(tx, sql`SHOW lock_timeout`);
      return { row, timeout: setting?.lock_timeout };
    });
    const outside = await t.db.transaction(async (tx) => {
      const [setting] = await queryRows<{ lock_timeout: string }>(tx, sql`SHOW lock_timeout`);
      return setting?.lock_timeout;
    });

    // Assess
    expect(inside.row.id).toBe(id);
    expect(inside.row).not.toHaveProperty("lockTimeout");
    expect(inside.row.steps).toEqual(initialSteps(PROVISIONING_STEPS));
    expect(inside.timeout).toBe("250ms");
    expect(outside).toBe("0");
  });
});

describe("the progress record after marks", () => {
  it("stays readable through the query builder (steps as an array of objects)", async () => {
    // Prepare
    const id = await newRun();

    // Act
    await markStepAttempt(t.db, id, "CreateTenant", undefined, new Date());
    const [row] = await t.db.select().from(provisioningProgress).where(eq(provisioningProgress.id, id));

    // Assess
    const steps = row?.steps ?? [];
    expect(Array.isArray(row?.steps)).toBe(true);
    expect(steps[0]).toMatchObject({ name: "CreateTenant", attempts: 1 });
  });
});

describe("markStepAttempt and markRunning", () => {
  const T0 = "2026-03-04T05:06:07.000Z";
  const pending = initialSteps(PROVISIONING_STEPS);
  const withStep = (name: string, change: Partial<ProgressStep>): ProgressStep[] =>
    pending.map((s) => (s.name === name ? { ...s, ...change } : s));
  const action = (name: string, status: ProgressStep["status"], attempts: number) => ({
    name,
    status,
    attempts,
    completedAt: null,
    error: null,
  });
  const cases: { name: string; steps: ProgressStep[]; step: string; action?: string }[] = [
    { name: "a fresh step", steps: pending, step: "CreateTenant" },
    {
      name: "a step retried within its pass",
      steps: withStep("RunMigrations", { status: "running", attempts: 2, startedAt: T0, passStartedAt: T0 }),
      step: "RunMigrations",
    },
    {
      name: "a running step of a record older than passStartedAt",
      steps: withStep("RunMigrations", {
        status: "running",
        attempts: 1,
        startedAt: T0,
        passStartedAt: undefined as never,
      }),
      step: "RunMigrations",
    },
    {
      name: "a step resumed after a failed pass",
      steps: withStep("CreateAdminUser", {
        status: "pending",
        attempts: 1,
        startedAt: T0,
        durationMs: 40,
        attemptErrors: [{ attempt: 1, at: T0, name: "DatabaseError", message: "x", transient: false }],
      }),
      step: "CreateAdminUser",
    },
    { name: "a Map step's first action", steps: pending, step: "PostProvisioningSteps", action: "a-one" },
    {
      name: "a Map step's next action",
      steps: withStep("PostProvisioningSteps", {
        status: "running",
        attempts: 1,
        startedAt: T0,
        passStartedAt: T0,
        actions: [{ ...action("a-one", "completed", 1), completedAt: T0 }],
      }),
      step: "PostProvisioningSteps",
      action: "a-two",
    },
    {
      name: "a Map step's action retried",
      steps: withStep("PostProvisioningSteps", {
        status: "running",
        attempts: 1,
        startedAt: T0,
        passStartedAt: T0,
        actions: [action("a-one", "running", 1)],
      }),
      step: "PostProvisioningSteps",
      action: "a-one",
    },
    {
      name: "a Map step resumed at a failed action",
      steps: withStep("PostProvisioningSteps", {
        status: "pending",
        attempts: 1,
        startedAt: T0,
        durationMs: 12,
        actions: [action("a-one", "failed", 1)],
      }),
      step: "PostProvisioningSteps",
      action: "a-one",
    },
  ];

  for (const c of cases) {
    it(`make the same change: ${c.name}`, async () => {
      // Prepare
      const id = await newRun({ status: "running" }, c.steps);
      const now = new Date("2026-03-04T05:10:00.000Z");
      const before = (await getProgressRow(t.db, id))!.steps;

      // Act
      const outcome = await markStepAttempt(t.db, id, c.step, c.action, now);
      const inSql = await stepsOf(id);
      const inTypeScript = updateStep(before, c.step, (s) => markRunning(s, now, c.action));

      // Assess
      expect(outcome).toBe("marked");
      expect(inSql).toEqual(inTypeScript);
      expect(inSql).not.toEqual(before);
    });
  }
});
