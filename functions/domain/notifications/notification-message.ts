/**
 * The body of a notification on the SQS queue: what the SQS channel sends (sqs-notification-channel.ts)
 * and what the SES sender reads back (ses-sender.ts) — validated there, since a queue accepts anything.
 */
import { z } from "zod";
import type { NotificationKind } from "./notification-channel.ts";

const NOTIFICATION_KINDS = [
  "welcome",
  "deprovisioning_notice",
] as const satisfies readonly NotificationKind[];

export const notificationKindSchema = z.enum(NOTIFICATION_KINDS);

export const notificationMessageSchema = z.object({
  kind: notificationKindSchema,
  tenantId: z.string().min(1),
  progressId: z.string().min(1),
  recipient: z.email(),
  payload: z.record(z.string(), z.unknown()),
  dedupeKey: z.string().min(1),
});

export type NotificationMessage = z.output<typeof notificationMessageSchema>;
