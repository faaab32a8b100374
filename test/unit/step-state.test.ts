/** The rules every writer of a run's steps follows (functions/domain/runs/step-state.ts). */
import { describe, expect, it } from "vitest";
import {
  cancelSteps,
  completeRemaining,
  firstUnfinishedStep,
  initialSteps,
  markAttemptFailed,
  markCompleted,
  markFailed,
  markRunning,
  resetFailed,
  resetFrom,
  stepError,
} from "../../functions/domain/runs/step-state.ts";
import { MAX_ATTEMPT_ERRORS, type ProgressStep } from "../../functions/schemas/progress.ts";
import { PROVISIONING_STEPS } from "../../functions/workflows/step-catalog.ts";

const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds));
const fresh = (): ProgressStep => initialSteps(PROVISIONING_STEPS)[0]!;
const transient = { name: "TransientError", message: "serialization failure", transient: true };
const permanent = { name: "DatabaseError", message: "check violation", transient: false };

describe("markRunning", () => {
  it("counts an attempt, keeps the first start, and starts a pass only when the step was not running", () => {
    // Act
    const first = markRunning(fresh(), at(0));
    const retried = markRunning(first, at(5));

    // Assess
    expect(first).toMatchObject({ status: "running", attempts: 1, startedAt: at(0).toISOString() });
    expect(first.passStartedAt).toBe(at(0).toISOString());
    expect(retried).toMatchObject({ attempts: 2, startedAt: at(0).toISOString() });
    expect(retried.passStartedAt).toBe(at(0).toISOString());
  });

  it("counts one step attempt per pass over a Map step's actions and one per action", () => {
    // Act
    const one = markRunning(fresh(), at(0), "a");
    const two = markRunning(one, at(1), "b");
    const again = markRunning(two, at(2), "b");

    // Assess
    expect(again.attempts).toBe(1);
    expect(again.actions).toEqual([
      { name: "a", status: "running", attempts: 1, completedAt: null, error: null },
      { name: "b", status: "running", attempts: 2, completedAt: null, error: null },
    ]);
  });
});

describe("durations", () => {
  it("a step completed in one pass took from its start to its completion", () => {
    const step = markCompleted(markRunning(fresh(), at(0)), at(3));
    expect(step).toMatchObject({ status: "completed", durationMs: 3000, passStartedAt: null, error: null });
  });

  it("automatic retries and their backoff count; the wait for an operator between passes does not", () => {
    // Prepare: a first pass of 2 s (one retry) failing permanently, an operator's hour, a 4 s pass
    let step = markRunning(fresh(), at(0));
    step = markAttemptFailed(step, transient, at(1));
    step = markRunning(step, at(1));
    step = markAttemptFailed(step, permanent, at(2));
    step = markFailed(step, stepError(permanent.name, permanent.message), at(2));
    const [resumed] = resetFrom([step], step.name);

    // Act
    const done = markCompleted(markRunning(resumed!, at(3600)), at(3604));

    // Assess
    expect(step.durationMs).toBe(2000);
    expect(done).toMatchObject({ status: "completed", attempts: 3, durationMs: 6000 });
    expect(done.startedAt).toBe(at(0).toISOString());
  });

  it("a run failing (RecordFailure) or cancelled while the step runs ends the step's pass", () => {
    const failed = markFailed(markRunning(fresh(), at(0)), stepError("States.Timeout", "late"), at(7));
    const [cancelled] = cancelSteps(
      [markRunning(fresh(), at(0))],
      stepError("RunCancelledError", "x"),
      at(2),
    );
    expect(failed).toMatchObject({ status: "failed", durationMs: 7000, passStartedAt: null });
    expect(cancelled).toMatchObject({ status: "failed", durationMs: 2000 });
  });
});

describe("attempt errors", () => {
  it("keeps each attempt's error after the step completes, transient or not", () => {
    let step = markRunning(fresh(), at(0));
    step = markAttemptFailed(step, transient, at(1));
    step = markRunning(step, at(2));
    step = markCompleted(step, at(3));
    expect(step).toMatchObject({ status: "completed", error: null, attempts: 2 });
    expect(step.attemptErrors).toEqual([
      {
        attempt: 1,
        at: at(1).toISOString(),
        name: "TransientError",
        message: "serialization failure",
        transient: true,
      },
    ]);
  });

  it("a transient error leaves the step running; a permanent one fails it", () => {
    expect(markAttemptFailed(markRunning(fresh(), at(0)), transient, at(1)).status).toBe("running");
    expect(markAttemptFailed(markRunning(fresh(), at(0)), permanent, at(1)).status).toBe("failed");
  });

  it("keeps only the most recent errors, with short messages", () => {
    let step = fresh();
    for (let i = 0; i < MAX_ATTEMPT_ERRORS + 3; i++) {
      step = markAttemptFailed(markRunning(step, at(i)), { ...transient, message: "m".repeat(5000) }, at(i));
    }
    expect(step.attemptErrors).toHaveLength(MAX_ATTEMPT_ERRORS);
    expect(step.attemptErrors[0]?.attempt).toBe(4);
    expect(step.attemptErrors.at(-1)?.attempt).toBe(MAX_ATTEMPT_ERRORS + 3);
    expect(step.attemptErrors[0]!.message.length).toBeLessThan(400);
    expect(step.error!.message.length).toBeLessThanOrEqual(2001);
  });

  it("names the action of a Map step the attempt was at", () => {
    const step = markAttemptFailed(markRunning(fresh(), at(0), "a"), permanent, at(1), "a");
    expect(step.attemptErrors).toEqual([expect.objectContaining({ attempt: 1, action: "a" })]);
    expect(step.actions).toEqual([
      {
        name: "a",
        status: "failed",
        attempts: 1,
        completedAt: null,
        error: stepError("DatabaseError", "check violation"),
      },
    ]);
  });
});

describe("run-level changes", () => {
  it("completing a run completes a running Map step and skips steps never started", () => {
    const steps = initialSteps(PROVISIONING_STEPS).slice(0, 3);
    steps[0] = markCompleted(markRunning(steps[0]!, at(0)), at(1));
    steps[1] = markRunning(steps[1]!, at(1), "a");
    const done = completeRemaining(steps, at(4));
    expect(done.map((s) => s.status)).toEqual(["completed", "completed", "skipped"]);
    expect(done[1]?.durationMs).toBe(3000);
  });

  it("resuming resets the step and every later unfinished one, keeping their history", () => {
    const steps = initialSteps(PROVISIONING_STEPS).slice(0, 3);
    steps[0] = markCompleted(markRunning(steps[0]!, at(0)), at(1));
    steps[1] = markAttemptFailed(markRunning(steps[1]!, at(1)), permanent, at(2));
    const reset = resetFrom(steps, steps[1]!.name);
    expect(reset[0]).toEqual(steps[0]);
    expect(reset[1]).toMatchObject({ status: "pending", attempts: 1, durationMs: 1000 });
    expect(reset[1]!.attemptErrors).toHaveLength(1);
    expect(firstUnfinishedStep(reset)?.name).toBe(steps[1]!.name);
  });

  it("start-up resume gives failed steps a new pass and leaves the rest", () => {
    const steps = [markAttemptFailed(markRunning(fresh(), at(0)), permanent, at(1)), fresh()];
    expect(resetFailed(steps).map((s) => s.status)).toEqual(["pending", "pending"]);
    expect(resetFailed([markRunning(fresh(), at(0))])[0]?.status).toBe("running");
  });
});
