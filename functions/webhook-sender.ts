/**
 * The webhook sender Lambda, invoked every minute by an EventBridge rule: delivers the webhooks that
 * are due, signed (Standard Webhooks) with secrets sealed under `WEBHOOK_SECRETS_KMS_KEY_ID`, to
 * public HTTPS addresses only (no loopback in AWS). It goes round while deliveries are due and
 * time is left. The work is in functions/domain/webhooks/delivery-worker.ts.
 */
import { KMSClient } from "@aws-sdk/client-kms";
import type { Context, ScheduledEvent } from "aws-lambda";
import { openDatabase } from "./db/client.ts";
import {
  type DeliveryDeps,
  deliverDue,
  deliverySettingsFrom,
  leaseMs,
} from "./domain/webhooks/delivery-worker.ts";
import { KmsSecretSealer } from "./domain/webhooks/kms-secret-sealer.ts";
import type { SecretSealer } from "./domain/webhooks/secret-sealer.ts";
import { systemResolver } from "./domain/webhooks/url-guard.ts";
import { createSenderAgents, httpSender } from "./domain/webhooks/webhook-sender.ts";
import { ConfigError, loadConfig } from "./shared/config.ts";
import { createLogger } from "./shared/logger.ts";

export interface SenderSummary {
  readonly rounds: number;
  readonly attempted: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly disabled: number;
}

type Handler = (
  event: ScheduledEvent | undefined,
  context: Pick<Context, "getRemainingTimeInMillis">,
) => Promise<SenderSummary>;

/** Rounds while deliveries are due and a whole round (its lease) still fits in the time left. */
export function createSenderHandler(deps: DeliveryDeps): Handler {
  return async (_event, context) => {
    const summary = { rounds: 0, attempted: 0, succeeded: 0, failed: 0, disabled: 0 };
    while (context.getRemainingTimeInMillis() > leaseMs(deps.settings)) {
      const round = await deliverDue(deps);
      summary.rounds++;
      summary.attempted += round.attempted;
      summary.succeeded += round.succeeded;
      summary.failed += round.failed;
      summary.disabled += round.disabled.length;
      if (round.attempted === 0) break;
    }
    if (summary.attempted > 0) deps.logger.info("webhooks delivered", { ...summary });
    return summary;
  };
}

/** KMS calls are saved across deliveries: an opened secret is kept for the container's life, by ciphertext. */
function caching(sealer: SecretSealer): SecretSealer {
  const opened = new Map<string, Promise<string>>();
  return {
    seal: (secret, id) => sealer.seal(secret, id),
    open: (sealed, id) => {
      const key = `${id}:${sealed}`;
      let found = opened.get(key);
      if (!found) {
        found = sealer.open(sealed, id).catch((error: unknown) => {
          opened.delete(key);
          throw error;
        });
        opened.set(key, found);
      }
      return found;
    },
  };
}

let handlerPromise: Promise<Handler> | undefined;

async function productionHandler(): Promise<Handler> {
  const config = loadConfig();
  const keyId = config.events.webhookSecretsKeyId;
  if (!keyId) {
    throw new ConfigError(
      "Invalid configuration:\n  WEBHOOK_SECRETS_KMS_KEY_ID: required by the webhook sender",
    );
  }
  const { db } = await openDatabase(config.database);
  return createSenderHandler({
    db,
    logger: createLogger(config.logLevel),
    clock: () => new Date(),
    sealer: caching(new KmsSecretSealer(new KMSClient({}), keyId)),
    policy: { allowLoopback: false },
    resolve: systemResolver,
    send: httpSender(createSenderAgents(config.events.concurrency)),
    settings: deliverySettingsFrom(config.events),
  });
}

export const handler = async (event: ScheduledEvent, context: Context): Promise<SenderSummary> => {
  handlerPromise ??= productionHandler().catch((error: unknown) => {
    handlerPromise = undefined;
    throw error;
  });
  return (await handlerPromise)(event, context);
};
