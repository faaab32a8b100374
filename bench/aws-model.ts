/**
 * `npm run bench:aws-model`: what one provisioning (per default template) and one deprovisioning
 * would cost on AWS in round trips, cold starts, latency and money — counted from the real service,
 * modelled from published per-call figures.
 *
 * Counted (deterministic): the real local service (startLocalApp: HTTP API, the real ASL run
 * in-process, the real step handlers) on the RDS Data API driver, answered by the strict adapter
 * (test/support/data-api-adapter.ts) on a fresh database of the local PostgreSQL server. Every
 * `RDSDataClient#send` is counted by command; the runner's state events give the transitions (every
 * state entered, every retry), the Lambda invocations (Task states entered or retried) and the
 * distinct step functions invoked — one Lambda per workflow in the CDK stack (lib/lambda-entries.ts),
 * and each distinct one is a cold start on a service that is seldom used. The API request is one
 * more invocation of one more function (the API group's Lambda): `distinctFunctions` counts it, so
 * a run's figure is its step functions + 1. Background
 * work (sweep, schedule poller, outbox and event workers) is pushed to hour-long intervals so that
 * it does not run during the measurement; on AWS it is separate Lambdas, not part of a run.
 *
 * Modelled (not measured — no AWS account is reachable from here): end-to-end latency warm and cold
 * and the cost per run at us-east-1 list prices, from the inputs in MODEL below, each with its
 * source or marked as an assumption. Change them with `--data-api-ms`, `--cold-start-ms`, ... to see
 * how sensitive the result is.
 *
 * Options: `--json` (the figures as JSON, shape in the issue), `--trace` (every Data API call's command
 * and SQL on stderr), `--data-api-ms N`, `--invoke-ms N`, `--transition-ms N`, `--cold-start-ms N`.
 * Needs the local PostgreSQL server (TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { hashPassword } from "../functions/domain/auth/password.ts";
import { DEFAULT_TEMPLATES } from "../functions/domain/templates/default-templates.ts";
import { loadConfig } from "../functions/shared/config.ts";
import { createLogger } from "../functions/shared/logger.ts";
import { startLocalApp } from "../local/app.ts";
import { openTestDatabase } from "../test/support/database.ts";
import { provisionBody } from "../test/support/provision-body.ts";

const { values: args } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    trace: { type: "boolean", default: false },
    "data-api-ms": { type: "string" },
    "invoke-ms": { type: "string" },
    "transition-ms": { type: "string" },
    "cold-start-ms": { type: "string" },
  },
});

const num = (v: string | undefined, fallback: number) => (v === undefined ? fallback : Number(v));

/** The model's inputs. Sources are cited; what no source gave is marked as an assumption. */
const MODEL = {
  /**
   * One Data API call (ExecuteStatement, Begin/Commit) from a Lambda in the same region, warm.
   * ASSUMPTION: 25 ms. Bound: Vadym Kazulkin's measurement of a whole API Gateway → Lambda (Java,
   * 1024 MB) → one Data API select on Aurora Serverless v2 gave a warm p50 of 104.68 ms end to end
   * (dev.to/aws-builders "Data API for Amazon Aurora Serverless v2 with AWS SDK for Java - Part 5",
   * 2024), so one call is well under that.
   */
  dataApiMs: num(args["data-api-ms"], 25),
  /** Step Functions invoking a warm Lambda task and receiving its result. ASSUMPTION: 30 ms. */
  invokeMs: num(args["invoke-ms"], 30),
  /** Step Functions moving from one state to the next (Standard workflow). ASSUMPTION: 10 ms. */
  transitionMs: num(args["transition-ms"], 10),
  /**
   * One Node.js Lambda cold start (init of a bundled function with the AWS SDK clients it uses).
   * ASSUMPTION: 500 ms, inside the range AWS documents ("from under 100 ms to over 1 second",
   * AWS Lambda operator guide, "Cold starts and latency", serverlessland.com).
   */
  coldStartMs: num(args["cold-start-ms"], 500),
  /** API Gateway REST in front of the API Lambda, per request. ASSUMPTION: 20 ms. */
  apiGatewayMs: 20,
  /** Memory of the step and API functions (lib/constructs/service-function.ts default). */
  lambdaMemoryGb: 512 / 1024,
  price: {
    /** Step Functions Standard: $0.025 per 1,000 state transitions (aws.amazon.com/step-functions/pricing). */
    perTransition: 0.025 / 1000,
    /** Lambda x86: $0.20 per 1M requests, $0.0000166667 per GB-second (aws.amazon.com/lambda/pricing). */
    perInvocation: 0.2 / 1e6,
    perGbSecond: 0.0000166667,
    /**
     * RDS Data API: $0.35 per 1M requests for the first billion a month (aws.amazon.com/rds/aurora/pricing,
     * also quoted in Kazulkin's "Part 12 Data API quotas, limitations and pricing", 2024).
     */
    perDataApiCall: 0.35 / 1e6,
    /** API Gateway REST API: $3.50 per 1M requests, first 333M (aws.amazon.com/api-gateway/pricing). */
    perApiRequest: 3.5 / 1e6,
  },
};

type Command =
  | "ExecuteStatement"
  | "BatchExecuteStatement"
  | "BeginTransaction"
  | "CommitTransaction"
  | "RollbackTransaction";

interface Counts {
  dataApiCalls: number;
  transactions: number;
  byCommand: Record<string, number>;
}

interface RunFigures {
  /** Data API calls: during the API request, in the workflow, total. */
  apiRequestDataApiCalls: number;
  dataApiCalls: number;
  transactions: number;
  lambdaInvocations: number;
  distinctFunctions: number;
  transitions: number;
  /** Measured locally: the argon2id hash the API request computes (provisioning only). */
  hashMs: number;
  modelledMs: { warm: number; cold: number };
  costUsd: number;
}

/**
 * Task state name → Lambda module name per workflow, from the ASL files (`${XFunctionArn}`
 * resources): the workflows share Task names (CompleteRun, RecordFailure), not their Lambdas.
 */
function taskLambdas(kind: "provisioning" | "deprovisioning"): Map<string, string> {
  const map = new Map<string, string>();
  const text = readFileSync(join(import.meta.dirname, "..", "statemachines", `${kind}.asl.json`), "utf8");
  const visit = (states: Record<string, Record<string, unknown>>) => {
    for (const [name, state] of Object.entries(states)) {
      const m = typeof state.Resource === "string" ? /^\$\{(\w+)FunctionArn\}$/.exec(state.Resource) : null;
      if (state.Type === "Task" && m?.[1]) map.set(name, m[1]);
      for (const b of (state.Branches ?? []) as { States: Record<string, Record<string, unknown>> }[])
        visit(b.States);
      const p = (state.ItemProcessor ?? state.Iterator) as
        | { States?: Record<string, Record<string, unknown>> }
        | undefined;
      if (p?.States) visit(p.States);
    }
  };
  visit((JSON.parse(text) as { States: Record<string, Record<string, unknown>> }).States);
  return map;
}

function model(
  apiCalls: number,
  stepCalls: number,
  invocations: number,
  distinct: number,
  transitions: number,
  hashMs: number,
) {
  const api = MODEL.apiGatewayMs + apiCalls * MODEL.dataApiMs + hashMs;
  const workflow =
    stepCalls * MODEL.dataApiMs + invocations * MODEL.invokeMs + transitions * MODEL.transitionMs;
  const warm = api + workflow;
  // Cold: the API function and every distinct step function start cold once, one after the other.
  const cold = warm + (distinct + 1) * MODEL.coldStartMs;
  // Lambda duration billed: the time the functions spend, i.e. their Data API calls and the hash.
  const gbSeconds = (((apiCalls + stepCalls) * MODEL.dataApiMs + hashMs) / 1000) * MODEL.lambdaMemoryGb;
  const p = MODEL.price;
  const cost =
    transitions * p.perTransition +
    (invocations + 1) * p.perInvocation +
    gbSeconds * p.perGbSecond +
    (apiCalls + stepCalls) * p.perDataApiCall +
    p.perApiRequest;
  return { warm: Math.round(warm), cold: Math.round(cold), cost };
}

async function main() {
  const database = await openTestDatabase({ kind: "data-api" });
  const adapter = database.dataApi;
  if (!adapter) throw new Error("the data-api test database has no adapter");
  const counts: Counts = { dataApiCalls: 0, transactions: 0, byCommand: {} };
  const send = adapter.client.send.bind(adapter.client) as (c: unknown) => Promise<unknown>;
  (adapter.client as unknown as { send: (c: unknown) => Promise<unknown> }).send = (command: unknown) => {
    const name = (command as object).constructor.name.replace(/Command$/, "") as Command;
    counts.dataApiCalls++;
    if (args.trace)
      console.error(
        name,
        String((command as { input?: { sql?: string } }).input?.sql ?? "")
          .replace(/\s+/g, " ")
          .slice(0, 140),
      );
    counts.byCommand[name] = (counts.byCommand[name] ?? 0) + 1;
    if (name === "BeginTransaction") counts.transactions++;
    return send(command);
  };

  const events: { type: string; state?: string }[] = [];
  const logger = createLogger("debug", (line) => {
    if (!line.includes('"workflow event"')) return;
    const e = JSON.parse(line) as { type: string; state?: string };
    events.push({ type: e.type, ...(e.state ? { state: e.state } : {}) });
  });
  const dataDir = mkdtempSync(join(tmpdir(), "tp-aws-model-"));
  const hour = String(3_600_000);
  const config = loadConfig({
    PORT: "0",
    DATA_DIR: dataDir,
    LOG_LEVEL: "debug",
    SCHEDULE_POLL_INTERVAL_MS: hour,
    OUTBOX_DRAIN_INTERVAL_MS: hour,
    WEBHOOK_POLL_INTERVAL_MS: hour,
    SWEEP_INTERVAL_SECONDS: "86400",
  });
  const app = await startLocalApp({ config, logger, database });
  const request = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${app.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${app.adminKey}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(json)}`);
    return json;
  };

  // The hash every provisioning computes in its API request, measured here (median of 5).
  const hashes: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await hashPassword("bench-password-0123456789");
    hashes.push(performance.now() - t);
  }
  const hashMs = Math.round(hashes.sort((a, b) => a - b)[2] ?? 0);

  /** Runs `start` (one API request that starts a run), waits for the workflow, returns its figures. */
  const measure = async (
    kind: "provisioning" | "deprovisioning",
    start: () => Promise<Record<string, unknown>>,
    withHash: boolean,
  ) => {
    const lambdas = taskLambdas(kind);
    await app.workflows.idle();
    const c0 = counts.dataApiCalls;
    const t0 = counts.transactions;
    const e0 = events.length;
    const started = await start();
    const c1 = counts.dataApiCalls;
    await app.workflows.idle();
    // The runner's event stream may trail the execution's end by a tick.
    await new Promise((r) => setTimeout(r, 50));
    const runEvents = events.slice(e0);
    const entered = runEvents.filter((e) => e.type === "StateEntered");
    const retried = runEvents.filter((e) => e.type === "StateRetried");
    const taskStates = [...entered, ...retried].filter((e) => e.state && lambdas.has(e.state));
    const distinct = new Set(taskStates.map((e) => lambdas.get(e.state as string)));
    const apiCalls = c1 - c0;
    const stepCalls = counts.dataApiCalls - c1;
    const transitions = entered.length + retried.length;
    const m = model(
      apiCalls,
      stepCalls,
      taskStates.length,
      distinct.size,
      transitions,
      withHash ? hashMs : 0,
    );
    const figures: RunFigures = {
      apiRequestDataApiCalls: apiCalls,
      dataApiCalls: apiCalls + stepCalls,
      transactions: counts.transactions - t0,
      // The API request's invocation counts too.
      lambdaInvocations: taskStates.length + 1,
      distinctFunctions: distinct.size + 1,
      transitions,
      hashMs: withHash ? hashMs : 0,
      modelledMs: { warm: m.warm, cold: m.cold },
      costUsd: Number(m.cost.toPrecision(3)),
    };
    return { figures, started };
  };

  const templates = (await request("GET", "/api/provisioning/templates")) as unknown as {
    items?: { id: string; name: string }[];
  };
  const list = Array.isArray(templates)
    ? (templates as { id: string; name: string }[])
    : (templates.items ?? []);
  const provisioning: Record<string, RunFigures> = {};
  let lastTenant: string | undefined;
  let n = 0;
  for (const t of DEFAULT_TEMPLATES) {
    const template = list.find((x) => x.name === t.name);
    if (!template) throw new Error(`default template ${t.name} not found`);
    const slug = `model-${++n}`;
    const { figures, started } = await measure(
      "provisioning",
      () =>
        request(
          "POST",
          `/api/provisioning/templates/${template.id}/provision`,
          provisionBody(slug, "bench-password-0123456789"),
        ),
      true,
    );
    const progress = await request("GET", `/api/provisioning/progress/${started.id as string}`);
    if (progress.status !== "completed") throw new Error(`${t.name}: run ended ${String(progress.status)}`);
    provisioning[t.name] = figures;
    lastTenant = progress.tenantId as string;
  }
  if (!lastTenant) throw new Error("no tenant provisioned");
  const tenantId = lastTenant;
  const { figures: deprovisioning, started } = await measure(
    "deprovisioning",
    () => request("POST", `/api/provisioning/tenants/${tenantId}/deprovision`, { gracePeriodHours: 0 }),
    false,
  );
  const dep = await request("GET", `/api/provisioning/progress/${started.id as string}`);
  if (dep.status !== "completed") throw new Error(`deprovisioning ended ${String(dep.status)}`);

  await app.close();
  await database.destroy();
  rmSync(dataDir, { recursive: true, force: true });

  const strip = (f: RunFigures) => ({
    dataApiCalls: f.dataApiCalls,
    transactions: f.transactions,
    lambdaInvocations: f.lambdaInvocations,
    distinctFunctions: f.distinctFunctions,
    transitions: f.transitions,
    modelledMs: f.modelledMs,
    costUsd: f.costUsd,
  });
  if (args.json) {
    console.log(
      JSON.stringify(
        {
          provisioning: Object.fromEntries(Object.entries(provisioning).map(([k, v]) => [k, strip(v)])),
          deprovisioning: { [DEFAULT_TEMPLATES.at(-1)?.name ?? "tenant"]: strip(deprovisioning) },
        },
        null,
        2,
      ),
    );
    return;
  }
  const row = (name: string, f: RunFigures) =>
    `${name.padEnd(34)} ${String(f.dataApiCalls).padStart(5)} (${String(f.apiRequestDataApiCalls).padStart(2)} in API) ${String(f.transactions).padStart(4)} ${String(f.lambdaInvocations).padStart(6)} ${String(f.distinctFunctions).padStart(8)} ${String(f.transitions).padStart(11)} ${String(f.modelledMs.warm).padStart(8)} ${String(f.modelledMs.cold).padStart(8)}  $${f.costUsd}`;
  console.log(
    `Model inputs: Data API call ${MODEL.dataApiMs} ms, Lambda task invoke ${MODEL.invokeMs} ms, transition ${MODEL.transitionMs} ms, cold start ${MODEL.coldStartMs} ms, API Gateway ${MODEL.apiGatewayMs} ms, argon2id hash ${hashMs} ms (measured here)`,
  );
  console.log(
    `${"run".padEnd(34)} ${"Data API calls".padStart(19)} ${"txns".padStart(4)} ${"Lambda".padStart(6)} ${"distinct".padStart(8)} ${"transitions".padStart(11)} ${"warm ms".padStart(8)} ${"cold ms".padStart(8)}  cost`,
  );
  for (const [name, f] of Object.entries(provisioning)) console.log(row(`provisioning: ${name}`, f));
  console.log(row("deprovisioning (Municipality tenant)", deprovisioning));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
