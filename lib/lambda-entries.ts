/**
 * Which Lambdas the service has, derived from the code rather than listed by hand: one per API
 * group of the route table, the authorizer, one per workflow that has an ASL file (it runs every
 * Task of that workflow: one cold start per run), the deploy-time migration, the
 * admin-key bootstrap, the execution status-change handler, the notification sender, the event
 * publisher, the webhook sender and, when `functions/sweep.ts` exists, the periodic sweep. The
 * stack and `bench/bundle-size.ts` read it.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { type ApiGroup, routeList } from "../functions/http/route-table.ts";
import { readDefinitionText, substitutionNames } from "../functions/workflows/definitions.ts";
import {
  functionArnSubstitution,
  WORKFLOW_STEPS,
  type WorkflowName,
  workflowLambda,
} from "../functions/workflows/step-catalog.ts";
import { REPO_ROOT } from "./bundling.ts";

export type LambdaRole =
  | "api"
  | "authorizer"
  | "step"
  | "migrate-on-deploy"
  | "create-admin-key"
  | "execution-ended"
  | "notification-sender"
  | "sweep"
  | "event-publisher"
  | "webhook-sender";

export interface LambdaEntry {
  /** Stable name: the API group, the workflow's step module name, or the role for single functions. */
  readonly name: string;
  readonly role: LambdaRole;
  /** Absolute path of the entry module (exports `handler`). */
  readonly entry: string;
}

const ASL_SUFFIX = ".asl.json";

function functionsPath(...segments: string[]): string {
  return join(REPO_ROOT, "functions", ...segments);
}

/** The path of an entry module; a missing module is an error naming the file. */
export function requireEntry(path: string, why: string): string {
  if (!existsSync(path)) throw new Error(`missing Lambda entry ${path} (${why})`);
  return path;
}

/** The API groups in the order the route table first names them. */
export function apiGroups(): ApiGroup[] {
  return [...new Set(routeList().map((r) => r.group))];
}

/** The workflows that have an ASL file in `dir`; an ASL file of an unknown workflow is an error. */
export function workflowKinds(dir: string = join(REPO_ROOT, "statemachines")): WorkflowName[] {
  const known = Object.keys(WORKFLOW_STEPS) as WorkflowName[];
  return readdirSync(dir)
    .filter((f) => f.endsWith(ASL_SUFFIX))
    .sort()
    .map((f) => {
      const kind = f.slice(0, -ASL_SUFFIX.length);
      if (!(known as string[]).includes(kind)) {
        throw new Error(
          `statemachines/${f}: no workflow "${kind}" in the step catalog (${known.join(", ")})`,
        );
      }
      return kind as WorkflowName;
    });
}

/**
 * The step module a `${XFunctionArn}` placeholder names (`ProvisioningStepsFunctionArn` →
 * `provisioning-steps`), or undefined for a placeholder of another shape.
 */
export function lambdaForPlaceholder(placeholder: string): string | undefined {
  const m = /^([A-Z][A-Za-z0-9]*)FunctionArn$/.exec(placeholder);
  if (!m) return undefined;
  const name = m[1]!.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
  return functionArnSubstitution(name) === placeholder ? name : undefined;
}

/**
 * The step modules the given workflows run, once each: each workflow's one Lambda, and any other
 * Lambda the ASL files name (an ASL Task naming an unknown one fails at its entry's lookup).
 */
export function stepLambdaNames(
  kinds: readonly WorkflowName[],
  dir: string = join(REPO_ROOT, "statemachines"),
): string[] {
  const names: string[] = [
    ...kinds.map(workflowLambda),
    ...kinds.flatMap((k) =>
      substitutionNames(readDefinitionText(k, dir))
        .map(lambdaForPlaceholder)
        .filter((n): n is string => n !== undefined),
    ),
  ];
  return [...new Set(names)];
}

/** The optional periodic sweep (`functions/sweep.ts`), when it exists. */
export function sweepEntry(): string | undefined {
  const path = functionsPath("sweep.ts");
  return existsSync(path) ? path : undefined;
}

/** Every Lambda of the service. */
export function lambdaEntries(kinds: readonly WorkflowName[] = workflowKinds()): LambdaEntry[] {
  const entries: LambdaEntry[] = [
    ...apiGroups().map((group) => ({
      name: group,
      role: "api" as const,
      entry: requireEntry(functionsPath("api", `${group}.ts`), `API group "${group}" of the route table`),
    })),
    {
      name: "authorizer",
      role: "authorizer",
      entry: requireEntry(functionsPath("api", "authorizer.ts"), "the API's request authorizer"),
    },
    ...stepLambdaNames(kinds).map((name) => ({
      name,
      role: "step" as const,
      entry: requireEntry(
        functionsPath("steps", `${name}.ts`),
        `the step Lambda "${name}" of a workflow or of a statemachines/*.asl.json Task`,
      ),
    })),
    {
      name: "migrate-on-deploy",
      role: "migrate-on-deploy",
      entry: requireEntry(functionsPath("migrate-on-deploy.ts"), "migrations on deploy"),
    },
    {
      name: "create-admin-key",
      role: "create-admin-key",
      entry: requireEntry(functionsPath("create-admin-key.ts"), "the first admin key"),
    },
    {
      name: "execution-ended",
      role: "execution-ended",
      entry: requireEntry(functionsPath("execution-ended.ts"), "executions that end outside the ASL's Catch"),
    },
    {
      name: "notification-sender",
      role: "notification-sender",
      entry: requireEntry(functionsPath("notification-sender.ts"), "the notifications queue's consumer"),
    },
    {
      name: "event-publisher",
      role: "event-publisher",
      entry: requireEntry(functionsPath("event-publisher.ts"), "lifecycle events onto the event bus"),
    },
    {
      name: "webhook-sender",
      role: "webhook-sender",
      entry: requireEntry(functionsPath("webhook-sender.ts"), "signed webhook deliveries"),
    },
  ];
  const sweep = sweepEntry();
  if (sweep) entries.push({ name: "sweep", role: "sweep", entry: sweep });
  return entries;
}
