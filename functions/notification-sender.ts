/**
 * The notifications queue's consumer (SQS event source, ReportBatchItemFailures): sends each queued
 * notification through Amazon SES v2 from the sender address the stack was deployed with
 * (`-c notificationSender=...`, NOTIFICATION_SENDER). The work is in
 * functions/domain/notifications/ses-sender.ts; locally the outbox worker does the same.
 */
import { SESv2Client } from "@aws-sdk/client-sesv2";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { type SesSenderOptions, sendNotificationBatch } from "./domain/notifications/ses-sender.ts";
import { loadConfig, requireSetting } from "./shared/config.ts";
import { createLogger } from "./shared/logger.ts";

export type NotificationSenderHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

export function createNotificationSenderHandler(options: SesSenderOptions): NotificationSenderHandler {
  return (event) => sendNotificationBatch(options, event);
}

let handlerPromise: Promise<NotificationSenderHandler> | undefined;

async function productionHandler(): Promise<NotificationSenderHandler> {
  const config = loadConfig();
  return createNotificationSenderHandler({
    client: new SESv2Client({}),
    from: requireSetting(
      config.notifications.senderAddress,
      "NOTIFICATION_SENDER",
      "the notification sender",
    ),
    configurationSet: config.notifications.sesConfigurationSet,
    logger: createLogger(config.logLevel),
  });
}

export const handler = async (event: SQSEvent): Promise<SQSBatchResponse> => {
  handlerPromise ??= productionHandler().catch((error: unknown) => {
    handlerPromise = undefined;
    throw error;
  });
  return (await handlerPromise)(event);
};
