/**
 * The statements a step's bookkeeping is made of, on whatever TEST_DATABASE says: the attempt
 * mark (`markStepAttempt`, one autocommit UPDATE that changes the steps JSON in SQL), the work
 * transaction's lock that also sets `lock_timeout`, and `executeScript` (one round trip for a
 * multi-statement script on node-postgres and PGlite; split for the Data API).
 */
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { provisioningProgress } from "../../functions/db/schema.ts";
import { executeScript, queryRows } from "../../functions/db/sql.ts";
import {
  getProgressRow,
  lockProgressRow,
  markStepAttempt,
} from "../../functions/domain/runs/progress-store.ts";
import { initialSteps } from "../../functions/domain/runs/step-state.ts";
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
  return ((await getProgressRow(t.db, id))?.steps ?? []) as ProgressStep[];
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

describe("executeScript", () => {
  it("runs a script with a function body, comments and a trailing comment inside a transaction", async () => {
    // Prepare
    const script = `
      CREATE TABLE script_a (id INT PRIMARY KEY); -- first; still a comment
      CREATE FUNCTION script_double(x INT) RETURNS INT LANGUAGE plpgsql AS $$
        BEGIN RETURN x * 2; END;
      $$;
      /* a block; comment */
      INSERT INTO script_a VALUES (script_double(21));
      -- the end; no statement after this`;

    // Act
    await t.db.transaction(async (tx) => executeScript(tx, script));
    const rows = await queryRows<{ id: number }>(t.db, sql`SELECT id FROM script_a`);

    // Assess
    expect(rows.map((r) => Number(r.id))).toEqual([42]);
  });

  it("rolls the whole script back with the transaction when a statement in it fails", async () => {
    // Prepare
    const script = `CREATE TABLE script_b (id INT PRIMARY KEY);
      INSERT INTO script_b VALUES (1);
      INSERT INTO script_b VALUES (1);`;

    // Act
    const error = await t.db
      .transaction(async (tx) => executeScript(tx, script))
      .then(
        () => null,
        (e: unknown) => e,
      );
    const left = await queryRows<{ n: string | null }>(t.db, sql`SELECT to_regclass('script_b')::text AS n`);

    // Assess
    expect(error).not.toBeNull();
    expect(left[0]?.n ?? null).toBeNull();
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
    const steps = (row?.steps ?? []) as ProgressStep[];
    expect(Array.isArray(row?.steps)).toBe(true);
    expect(steps[0]).toMatchObject({ name: "CreateTenant", attempts: 1 });
  });
});
