/**
 * Every ASL file in statemachines/ (functions/workflows/definitions.ts loads them): valid for
 * asl-validator once its `${...}` substitutions are made, as Step Functions would check it on
 * deploy. The local runner does not validate again at start (that costs half a second), so this is
 * the check that a broken definition never reaches either runtime.
 */
import { readdirSync } from "node:fs";
// @ts-expect-error -- asl-validator 4 ships no type declarations; `validate` below types it.
import aslValidator from "asl-validator";
import { describe, expect, it } from "vitest";
import {
  readDefinitionText,
  statemachinesDir,
  substitute,
  substitutionNames,
} from "../../functions/workflows/definitions.ts";
import type { WorkflowName } from "../../functions/workflows/step-catalog.ts";

const validate = aslValidator as (definition: unknown) => { isValid: boolean; errors: unknown[] };

function substituted(text: string): unknown {
  const arns = Object.fromEntries(
    substitutionNames(text).map((n) => [n, `arn:aws:lambda:eu-west-1:000000000000:function:${n}`]),
  );
  return JSON.parse(substitute(text, arns));
}

const files = readdirSync(statemachinesDir())
  .filter((f) => f.endsWith(".asl.json"))
  .map((f) => f.slice(0, -".asl.json".length) as WorkflowName);

describe("statemachines/*.asl.json", () => {
  it("finds the workflows", () => {
    expect(files).toEqual(expect.arrayContaining(["provisioning", "deprovisioning", "restore"]));
  });

  it.each(files)("%s is valid ASL with its substitutions made", (name) => {
    const result = validate(substituted(readDefinitionText(name)));
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it("the validator rejects a definition whose Next names no state (the check can fail)", () => {
    const broken = substituted(readDefinitionText("restore")) as { StartAt: string; States: object };
    expect(validate({ ...broken, StartAt: "NoSuchState" }).isValid).toBe(false);
  });
});
