/**
 * Loads the ASL files in `statemachines/` and applies `${...}` substitutions the way CDK's
 * `DefinitionSubstitutions` does, so local runs and deployments execute the same definition.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundledDirectoryFromEnv, type RetryPolicy } from "../shared/config.ts";
import type { WorkflowName } from "./step-catalog.ts";

export function statemachinesDir(): string {
  return (
    bundledDirectoryFromEnv("STATEMACHINES_DIR") ??
    fileURLToPath(new URL("../../statemachines/", import.meta.url))
  );
}

/** The raw ASL text of a workflow, `${...}` placeholders included. */
export function readDefinitionText(kind: WorkflowName, dir: string = statemachinesDir()): string {
  return readFileSync(join(dir, `${kind}.asl.json`), "utf8");
}

/** Replaces every `${Name}` with `substitutions[Name]`; an unknown name is an error. */
export function substitute(text: string, substitutions: Readonly<Record<string, string>>): string {
  return text.replace(/\$\{(\w+)\}/g, (_, name: string) => {
    const value = substitutions[name];
    if (value === undefined) throw new Error(`no substitution for \${${name}}`);
    return value;
  });
}

/** The `${...}` names a definition uses. */
export function substitutionNames(text: string): string[] {
  return [...new Set([...text.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]!))].sort();
}

type Json = Record<string, unknown>;

/**
 * Applies retry policies to the ASL's retriers (the ASL holds the defaults; the service's
 * configuration may change interval, backoff, attempts and max delay): `policy` to every retrier
 * that handles `TransientError`, `unavailable` (when given) to every retrier that handles
 * `DatabaseUnavailableError`. Other fields (`ErrorEquals`, `JitterStrategy`) stay as written.
 */
export function applyRetryPolicy<T>(definition: T, policy: RetryPolicy, unavailable?: RetryPolicy): T {
  const apply = (retrier: Json, p: RetryPolicy) => {
    retrier.IntervalSeconds = p.intervalSeconds;
    retrier.BackoffRate = p.backoffRate;
    retrier.MaxDelaySeconds = p.maxDelaySeconds;
    retrier.MaxAttempts = p.maxAttempts;
  };
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const n of node) visit(n);
      return;
    }
    if (!node || typeof node !== "object") return;
    const obj = node as Json;
    if (Array.isArray(obj.Retry)) {
      for (const retrier of obj.Retry as Json[]) {
        const names = retrier.ErrorEquals as string[];
        if (names.includes("TransientError")) apply(retrier, policy);
        else if (unavailable && names.includes("DatabaseUnavailableError")) apply(retrier, unavailable);
      }
    }
    for (const value of Object.values(obj)) visit(value);
  };
  const copy = structuredClone(definition);
  visit(copy);
  return copy;
}
