/**
 * Loads the ASL files in `statemachines/` and applies `${...}` substitutions the way CDK's
 * `DefinitionSubstitutions` does, so local runs and deployments execute the same definition.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundledDirectoryFromEnv, type RetryPolicy } from "../shared/config.ts";
import type { WorkflowKind } from "./step-catalog.ts";

export function statemachinesDir(): string {
  return (
    bundledDirectoryFromEnv("STATEMACHINES_DIR") ??
    fileURLToPath(new URL("../../statemachines/", import.meta.url))
  );
}

/** The raw ASL text of a workflow, `${...}` placeholders included. */
export function readDefinitionText(kind: WorkflowKind, dir: string = statemachinesDir()): string {
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
 * Applies a retry policy to every retrier that handles `TransientError` (the ASL holds the
 * defaults; the service's configuration may change interval, backoff, attempts and max delay).
 */
export function applyRetryPolicy<T>(definition: T, policy: RetryPolicy): T {
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const n of node) visit(n);
      return;
    }
    if (!node || typeof node !== "object") return;
    const obj = node as Json;
    if (Array.isArray(obj.Retry)) {
      for (const retrier of obj.Retry as Json[]) {
        if ((retrier.ErrorEquals as string[]).includes("TransientError")) {
          retrier.IntervalSeconds = policy.intervalSeconds;
          retrier.BackoffRate = policy.backoffRate;
          retrier.MaxDelaySeconds = policy.maxDelaySeconds;
          retrier.MaxAttempts = policy.maxAttempts;
        }
      }
    }
    for (const value of Object.values(obj)) visit(value);
  };
  const copy = structuredClone(definition);
  visit(copy);
  return copy;
}
