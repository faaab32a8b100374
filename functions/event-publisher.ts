/**
 * The event publisher Lambda, invoked every minute by an EventBridge rule: drains the outbox onto
 * the stack's event bus (`EVENT_BUS_NAME`); events the bus keeps refusing go to `EVENT_DLQ_URL`.
 * The work is in functions/domain/events/event-publisher.ts. A round that could not reach the
 * database fails the invocation (the rule retries it, then its dead-letter queue gets it).
 */
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { Context, ScheduledEvent } from "aws-lambda";
import { openDatabase } from "./db/client.ts";
import { type PublishDeps, type PublishResult, publishPending } from "./domain/events/event-publisher.ts";
import { EventBridgeBus } from "./domain/events/eventbridge-bus.ts";
import { sqsEventDeadLetters } from "./domain/events/sqs-event-dead-letters.ts";
import { ConfigError, loadConfig } from "./shared/config.ts";
import { createLogger } from "./shared/logger.ts";

/** Time kept in hand at the end of an invocation (one more chunk must finish before the timeout). */
const RESERVE_MS = 20_000;

type Handler = (
  event: ScheduledEvent | undefined,
  context: Pick<Context, "getRemainingTimeInMillis">,
) => Promise<PublishResult>;

/** Publishes in rounds while time is left and rounds find events. */
export function createPublisherHandler(deps: PublishDeps): Handler {
  return async (_event, context) => {
    const total = { published: 0, refused: 0, deadLettered: 0 };
    for (;;) {
      const round = await publishPending(deps, 500);
      total.published += round.published;
      total.refused += round.refused;
      total.deadLettered += round.deadLettered;
      if (round.published === 0 || context.getRemainingTimeInMillis() < RESERVE_MS) break;
    }
    if (total.published + total.refused > 0) deps.logger.info("events published", { ...total });
    return total;
  };
}

let handlerPromise: Promise<Handler> | undefined;

async function productionHandler(): Promise<Handler> {
  const config = loadConfig();
  const busName = config.events.eventBusName;
  if (!busName)
    throw new ConfigError("Invalid configuration:\n  EVENT_BUS_NAME: required by the event publisher");
  const { db } = await openDatabase(config.database);
  const dlq = config.events.eventDeadLetterQueueUrl;
  return createPublisherHandler({
    db,
    bus: new EventBridgeBus(new EventBridgeClient({}), busName),
    logger: createLogger(config.logLevel),
    clock: () => new Date(),
    ...(dlq ? { deadLetters: sqsEventDeadLetters(new SQSClient({}), dlq) } : {}),
  });
}

export const handler = async (event: ScheduledEvent, context: Context): Promise<PublishResult> => {
  handlerPromise ??= productionHandler().catch((error: unknown) => {
    handlerPromise = undefined;
    throw error;
  });
  return (await handlerPromise)(event, context);
};
