/**
 * `npm run bench:events`: how fast lifecycle events get from the outbox to a webhook receiver.
 *
 * On embedded PGlite (in memory) and on a fresh database of the local PostgreSQL server, the real
 * local service (startLocalApp: its event worker, the delivery code, signing, HTTP) delivers to a
 * real receiver on 127.0.0.1 subscribed to every event. Events are written with `emitEvent` in
 * their own transactions, as a lifecycle change writes them. It measures:
 *
 * (a) latency, outbox to delivery: `--events` (default 40) events emitted one at a time, 100-300
 *     ms apart (the worker idle in between); from the commit to the receiver reading the request:
 *     median, p95, max — with the worker polling every 1000 ms (the default
 *     WEBHOOK_POLL_INTERVAL_MS) and every 100 ms;
 * (b) throughput: `--burst` (default 2000) events committed at once (100 per transaction), then
 *     the time until the receiver has them all: deliveries per second (one subscription; the
 *     sender's default concurrency, 8);
 * (c) what emitting costs the change that emits: a transaction with one `emitEvent`, median.
 *
 * Options: `--events N`, `--burst N`, `--only pglite|postgres`, `--json`.
 * Exit codes: 0 done (whatever the figures), 1 an event was not delivered or the setup failed.
 */
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import type { DatabaseHandle } from "../functions/db/client.ts";
import { emitEvent } from "../functions/domain/events/outbox.ts";
import type { NewEvent } from "../functions/schemas/events.ts";
import type { LocalApp } from "../local/app.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../test/support/webhook-receiver.ts";
import { benchApi, benchTargets, startBenchService } from "./support/bench-service.ts";

const { values: args } = parseArgs({
  options: {
    events: { type: "string", default: "40" },
    burst: { type: "string", default: "2000" },
    only: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const EVENTS = Math.max(1, Number.parseInt(args.events, 10));
const BURST = Math.max(1, Number.parseInt(args.burst, 10));
const TARGETS = benchTargets(args.only);
const POLL_INTERVALS = [1000, 100] as const;
type TargetName = (typeof TARGETS)[number];

interface Service {
  readonly app: LocalApp;
  readonly handle: DatabaseHandle;
  readonly receiver: WebhookReceiver;
  close(): Promise<void>;
}

async function startService(target: TargetName, pollMs: number): Promise<Service> {
  const service = await startBenchService(target, {
    WEBHOOK_POLL_INTERVAL_MS: String(pollMs),
    SWEEP_INTERVAL_SECONDS: "86400",
  });
  const receiver = await startWebhookReceiver(() => 200);
  const res = await benchApi(service.app, "POST", "/api/provisioning/webhooks", {
    url: receiver.url,
    eventTypes: ["*"],
  });
  if (res.status !== 201) throw new Error(`could not subscribe: ${res.status} ${JSON.stringify(res.body)}`);
  return {
    app: service.app,
    handle: service.handle,
    receiver,
    close: async () => {
      await service.close();
      await receiver.close();
    },
  };
}

function event(): NewEvent {
  const scheduleId = randomUUID();
  return {
    type: "schedule.fired",
    tenantId: randomUUID(),
    runId: randomUUID(),
    data: { scheduleId, runAt: new Date().toISOString() },
    dedupeKey: `schedule.fired:${scheduleId}`,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (sorted.length - 1) * p;
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

/** Waits until the receiver has `ids` (by webhook-id); returns when each arrived (ms, epoch). */
async function arrivals(
  receiver: WebhookReceiver,
  ids: ReadonlySet<string>,
  timeoutMs: number,
): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = new Map<string, number>();
    for (const r of receiver.requests) {
      const id = r.headers["webhook-id"];
      if (id && ids.has(id) && !seen.has(id)) seen.set(id, r.receivedAt);
    }
    if (seen.size === ids.size) return seen;
    if (Date.now() > deadline)
      throw new Error(`only ${seen.size} of ${ids.size} events arrived in ${timeoutMs} ms`);
    await sleep(20);
  }
}

interface LatencyFigures {
  readonly pollMs: number;
  readonly medianMs: number;
  readonly p95Ms: number;
  readonly maxMs: number;
  readonly emitMedianMs: number;
}

async function latency(target: TargetName, pollMs: number): Promise<LatencyFigures> {
  const service = await startService(target, pollMs);
  try {
    const committed = new Map<string, number>();
    const emitTimes: number[] = [];
    for (let i = 0; i < EVENTS; i++) {
      await sleep(100 + Math.random() * 200);
      const started = performance.now();
      const { eventId } = await service.handle.db.transaction((tx) => emitEvent(tx, event(), new Date()));
      emitTimes.push(performance.now() - started);
      committed.set(eventId, Date.now());
    }
    const got = await arrivals(service.receiver, new Set(committed.keys()), 60_000);
    const latencies = [...committed].map(([id, at]) => got.get(id)! - at);
    return {
      pollMs,
      medianMs: percentile(latencies, 0.5),
      p95Ms: percentile(latencies, 0.95),
      maxMs: Math.max(...latencies),
      emitMedianMs: percentile(emitTimes, 0.5),
    };
  } finally {
    await service.close();
  }
}

interface ThroughputFigures {
  readonly events: number;
  readonly seconds: number;
  readonly deliveriesPerSecond: number;
}

async function throughput(target: TargetName): Promise<ThroughputFigures> {
  const service = await startService(target, POLL_INTERVALS[1]);
  try {
    const ids = new Set<string>();
    // The worker would start on the first batch at once; stop it while the backlog is written so
    // that the figure is the sender's rate, not the rate events were written at.
    await service.app.eventWorker.stop();
    for (let i = 0; i < BURST; i += 100) {
      await service.handle.db.transaction(async (tx) => {
        for (let j = i; j < Math.min(BURST, i + 100); j++)
          ids.add((await emitEvent(tx, event(), new Date())).eventId);
      });
    }
    const started = Date.now();
    const worker = service.app.eventWorker;
    const draining = worker.drain();
    const got = await arrivals(service.receiver, ids, 600_000);
    await draining;
    const seconds = (Math.max(...got.values()) - started) / 1000;
    return { events: ids.size, seconds, deliveriesPerSecond: ids.size / seconds };
  } finally {
    await service.close();
  }
}

async function main(): Promise<void> {
  const results: Record<string, { latency: LatencyFigures[]; throughput: ThroughputFigures }> = {};
  for (const target of TARGETS) {
    const lat: LatencyFigures[] = [];
    for (const pollMs of POLL_INTERVALS) lat.push(await latency(target, pollMs));
    results[target] = { latency: lat, throughput: await throughput(target) };
  }
  if (args.json) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    return;
  }
  const f = (ms: number) => `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  for (const [target, r] of Object.entries(results)) {
    process.stdout.write(`\n${target}\n`);
    process.stdout.write(`  outbox to delivery, ${EVENTS} events one at a time (commit → receiver):\n`);
    for (const l of r.latency) {
      process.stdout.write(
        `    poll every ${String(l.pollMs).padStart(4)} ms: median ${f(l.medianMs)}, p95 ${f(l.p95Ms)}, max ${f(l.maxMs)}\n`,
      );
    }
    process.stdout.write(
      `  emitting (a transaction with one event, one subscription): median ${f(r.latency[0]!.emitMedianMs)}\n`,
    );
    process.stdout.write(
      `  throughput: ${r.throughput.events} events in ${r.throughput.seconds.toFixed(2)} s = ${r.throughput.deliveriesPerSecond.toFixed(0)} deliveries/s\n`,
    );
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench:events failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
