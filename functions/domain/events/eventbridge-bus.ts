/**
 * The EventBridge bus: PutEvents on the stack's custom bus (the client is passed in). Entries
 * EventBridge refuses come back with their error code and are retried by the next publish.
 */
import { type EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { rootMessage } from "../../shared/errors.ts";
import { assertPutEventsRequest, type EventBus, type PutResult } from "./event-bus.ts";

export class EventBridgeBus implements EventBus {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
  ) {}

  async put(entries: Parameters<EventBus["put"]>[0]): Promise<PutResult[]> {
    assertPutEventsRequest(entries);
    try {
      const out = await this.client.send(
        new PutEventsCommand({
          Entries: entries.map((e) => ({
            EventBusName: this.busName,
            Source: e.source,
            DetailType: e.detailType,
            Detail: e.detail,
            Time: e.time,
          })),
        }),
      );
      // The answer has one entry per request entry, in order: an EventId, or an ErrorCode.
      return entries.map((_, i): PutResult => {
        const result = out.Entries?.[i];
        if (result?.EventId && !result.ErrorCode) return { ok: true };
        return {
          ok: false,
          error: `${result?.ErrorCode ?? "NoResult"}: ${result?.ErrorMessage ?? "no answer"}`,
        };
      });
    } catch (error) {
      // The whole request failed (throttling, a network error): every entry is retried.
      const message = `${(error as Error).name}: ${rootMessage(error)}`;
      return entries.map(() => ({ ok: false, error: message }));
    }
  }
}
