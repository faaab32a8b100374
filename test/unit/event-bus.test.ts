/**
 * Publishing to the bus: EventBridge PutEvents with the client mocked (aws-sdk-client-mock, reset
 * after each test), and the local stand-in, which refuses what PutEvents refuses.
 */
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import {
  type BusEntry,
  logEventBus,
  PUT_EVENTS_MAX_ENTRY_BYTES,
} from "../../functions/domain/events/event-bus.ts";
import { EventBridgeBus } from "../../functions/domain/events/eventbridge-bus.ts";
import { createLogger } from "../../functions/shared/logger.ts";

const eventBridge = mockClient(EventBridgeClient);
const BUS = "TenantProvisioning-events";

const entry = (n: number, detail = `{"id":"${n}"}`): BusEntry => ({
  source: "tenant-provisioning",
  detailType: "tenant.provisioning.completed",
  detail,
  time: new Date("2026-03-01T12:00:00Z"),
});

afterEach(() => {
  eventBridge.reset();
});

describe("EventBridgeBus", () => {
  it("puts the entries on the bus: source, detail-type = event type, detail = the event", async () => {
    // Prepare
    eventBridge
      .on(PutEventsCommand)
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: "a" }, { EventId: "b" }] });
    const bus = new EventBridgeBus(new EventBridgeClient({ region: "eu-west-1" }), BUS);

    // Act
    const results = await bus.put([entry(1), entry(2)]);

    // Assess
    expect(results).toEqual([{ ok: true }, { ok: true }]);
    const calls = eventBridge.commandCalls(PutEventsCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input.Entries).toEqual([
      {
        EventBusName: BUS,
        Source: "tenant-provisioning",
        DetailType: "tenant.provisioning.completed",
        Detail: '{"id":"1"}',
        Time: new Date("2026-03-01T12:00:00Z"),
      },
      expect.objectContaining({ Detail: '{"id":"2"}' }),
    ]);
  });

  it("reports the entries EventBridge refused, and every entry when the call fails", async () => {
    // Prepare
    const bus = new EventBridgeBus(new EventBridgeClient({ region: "eu-west-1" }), BUS);
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({
        FailedEntryCount: 1,
        Entries: [{ EventId: "a" }, { ErrorCode: "InternalFailure", ErrorMessage: "try again" }],
      })
      .rejectsOnce(Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" }));

    // Act
    const partial = await bus.put([entry(1), entry(2)]);
    const throttled = await bus.put([entry(3)]);

    // Assess
    expect(partial).toEqual([{ ok: true }, { ok: false, error: "InternalFailure: try again" }]);
    expect(throttled).toEqual([{ ok: false, error: "ThrottlingException: Rate exceeded" }]);
  });

  it("never sends more than ten entries in one call", async () => {
    const bus = new EventBridgeBus(new EventBridgeClient({ region: "eu-west-1" }), BUS);

    await expect(bus.put(Array.from({ length: 11 }, (_, i) => entry(i)))).rejects.toThrow(/1 to 10 entries/);
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
  });
});

describe("logEventBus (local stand-in)", () => {
  it("logs each event and refuses, like PutEvents, an entry over 256 KB and more than ten entries", async () => {
    // Prepare
    const lines: string[] = [];
    const bus = logEventBus(createLogger("info", (line) => lines.push(line)));
    const big = entry(2, `{"pad":"${"x".repeat(PUT_EVENTS_MAX_ENTRY_BYTES)}"}`);

    // Act
    const results = await bus.put([entry(1), big]);

    // Assess
    expect(results[0]).toEqual({ ok: true });
    expect(results[1]).toMatchObject({ ok: false, error: expect.stringMatching(/262144/) });
    expect(lines.filter((l) => l.includes("event published"))).toHaveLength(1);
    await expect(bus.put(Array.from({ length: 11 }, (_, i) => entry(i)))).rejects.toThrow(/1 to 10/);
  });
});
