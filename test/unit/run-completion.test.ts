/** Reading the failure a Catch hands to RecordFailure (`describeFailure`). */
import { describe, expect, it } from "vitest";
import { describeFailure } from "../../functions/domain/runs/run-completion.ts";

describe("describeFailure", () => {
  it("reads the error name and Lambda's JSON Cause", () => {
    // Act
    const failure = describeFailure({
      Error: "DatabaseError",
      Cause: JSON.stringify({
        errorType: "DatabaseError",
        errorMessage: 'new row for relation "users" violates check constraint',
        trace: ["DatabaseError: ...", "    at runStep (run-step.ts:120:11)"],
      }),
    });

    // Assess
    expect(failure).toEqual({
      name: "DatabaseError",
      message: 'new row for relation "users" violates check constraint',
    });
  });

  it("keeps a plain-text Cause (the local runner's)", () => {
    // Act
    const failure = describeFailure({ Error: "MigrationError", Cause: "relation already exists" });

    // Assess
    expect(failure).toEqual({ name: "MigrationError", message: "relation already exists" });
  });

  it("keeps a JSON Cause without errorMessage as text", () => {
    // Act
    const failure = describeFailure({ Error: "States.Timeout", Cause: '{"detail":"x"}' });

    // Assess
    expect(failure).toEqual({ name: "States.Timeout", message: '{"detail":"x"}' });
  });

  it("falls back to the error name, and to Error", () => {
    // Act + Assess
    expect(describeFailure({ Error: "States.TaskFailed" })).toEqual({
      name: "States.TaskFailed",
      message: "States.TaskFailed",
    });
    expect(describeFailure(undefined)).toEqual({ name: "Error", message: "Error" });
  });
});
