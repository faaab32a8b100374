/**
 * Events the bus kept refusing, sent to the events dead-letter queue (an alarm watches its depth);
 * the message is the event itself, with its id, type and the last error as attributes.
 */
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { EventDeadLetters } from "./event-publisher.ts";

export function sqsEventDeadLetters(client: SQSClient, queueUrl: string): EventDeadLetters {
  return {
    send: async (event) => {
      await client.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: event.body,
          MessageAttributes: {
            eventId: { DataType: "String", StringValue: event.id },
            eventType: { DataType: "String", StringValue: event.type },
            error: { DataType: "String", StringValue: event.error.slice(0, 1000) || "unknown" },
          },
        }),
      );
    },
  };
}
