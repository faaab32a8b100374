/**
 * The local stand-in for the event publisher and the webhook sender Lambdas: on a timer it
 * publishes the outbox's new events to the local bus (one log line each, PutEvents' limits
 * enforced) and delivers the webhooks that are due — the same domain code the Lambdas run. After a
 * round that did something it goes again at once; otherwise it sleeps until the next delivery is
 * due or the poll interval has passed, whichever is sooner.
 */
import type { Database } from "../functions/db/client.ts";
import type { EventBus } from "../functions/domain/events/event-bus.ts";
import { type PublishResult, publishPending } from "../functions/domain/events/event-publisher.ts";
import {
  type DeliveryDeps,
  type DeliveryRound,
  deliverDue,
  nextDueAt,
} from "../functions/domain/webhooks/delivery-worker.ts";
import type { Logger } from "../functions/shared/logger.ts";

export interface EventWorkerOptions {
  readonly db: Database;
  readonly logger: Logger;
  readonly clock: () => Date;
  readonly bus: EventBus;
  readonly delivery: DeliveryDeps;
  readonly pollIntervalMs: number;
}

export interface EventWorkerRound {
  readonly publish: PublishResult;
  readonly deliveries: DeliveryRound;
}

export class EventWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: EventWorkerOptions) {}

  start(): void {
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick()
        .catch((error: unknown) => {
          this.options.logger.warn("event worker round failed", { error });
          return this.options.pollIntervalMs;
        })
        .then((next) => this.schedule(next));
    }, delayMs);
  }

  /** One round; returns how long to sleep before the next. */
  private async tick(): Promise<number> {
    const round = await this.round();
    if (round.publish.published > 0 || round.deliveries.attempted > 0) return 0;
    const due = await nextDueAt(this.options.db);
    const interval = this.options.pollIntervalMs;
    if (!due) return interval;
    return Math.max(0, Math.min(interval, due.getTime() - this.options.clock().getTime()));
  }

  /** Publishes what is pending and makes one round of the deliveries that are due. */
  async round(): Promise<EventWorkerRound> {
    const { db, logger, clock, bus } = this.options;
    const publish = await publishPending({ db, bus, logger, clock });
    const deliveries = await deliverDue(this.options.delivery);
    return { publish, deliveries };
  }

  /** Rounds until nothing is published or attempted (what is due now is done; later retries wait). */
  async drain(): Promise<void> {
    for (;;) {
      const round = await this.round();
      if (round.publish.published === 0 && round.deliveries.attempted === 0) return;
    }
  }

  /** Stops the timer and waits for a round in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
