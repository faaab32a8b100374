/**
 * Publishes alerts to an SNS topic (AWS). Subscribers (e-mail, chat, a pager) filter on the
 * `kind` and `severity` message attributes; the message is the alert as JSON.
 */
import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import type { Alert } from "../../schemas/operations.ts";
import type { AlertNotifier } from "./alerts.ts";

export interface SnsAlertNotifierOptions {
  /** Passed in, so that tests hand in a mocked client and no client is made here. */
  readonly client: SNSClient;
  readonly topicArn: string;
}

/** SNS subjects are at most 100 printable ASCII characters, without line breaks. */
export function snsSubject(alert: Alert): string {
  const text = `[${alert.severity}] ${alert.message}`.replace(/[^\x20-\x7e]/g, "?");
  return text.length <= 100 ? text : `${text.slice(0, 97)}...`;
}

export function snsAlertNotifier({ client, topicArn }: SnsAlertNotifierOptions): AlertNotifier {
  const fifo = topicArn.endsWith(".fifo");
  return {
    notify: async (alert) => {
      await client.send(
        new PublishCommand({
          TopicArn: topicArn,
          Subject: snsSubject(alert),
          Message: JSON.stringify(alert),
          MessageAttributes: {
            kind: { DataType: "String", StringValue: alert.kind },
            severity: { DataType: "String", StringValue: alert.severity },
          },
          // A FIFO topic needs a group; the alert id makes a re-sent alert a duplicate SNS drops.
          ...(fifo ? { MessageGroupId: alert.kind, MessageDeduplicationId: alert.id } : {}),
        }),
      );
    },
  };
}
