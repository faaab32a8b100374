/**
 * The event catalogue (functions/schemas/events.ts) and the run events (runs/run-events.ts):
 * every run kind maps each transition to a catalogued type of the right shape, every type has a
 * JSON Schema, and event bodies stay thin and parse with their schema.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { eventBody } from "../../functions/domain/events/outbox.ts";
import { RUN_EVENT_TYPES } from "../../functions/domain/runs/run-events.ts";
import {
  EVENT_CATALOGUE,
  EVENT_TYPES,
  eventEnvelopeSchema,
  eventJsonSchema,
  type NewEvent,
} from "../../functions/schemas/events.ts";
import { RUN_KINDS } from "../../functions/schemas/progress.ts";

describe("the catalogue", () => {
  it("names types as full-stop delimited identifiers (Standard Webhooks' recommendation)", () => {
    for (const type of EVENT_TYPES) expect(type).toMatch(/^[a-z_]+(\.[a-z_]+)+$/);
  });

  it("has a JSON Schema per type whose data lists the schema's fields", () => {
    for (const type of EVENT_TYPES) {
      const schema = eventJsonSchema(type) as { properties: Record<string, any> };
      expect(schema.properties.version.const, type).toBe(EVENT_CATALOGUE[type].version);
      expect(Object.keys(schema.properties.data.properties).sort(), type).toEqual(
        Object.keys(EVENT_CATALOGUE[type].data.shape).sort(),
      );
    }
  });

  it("gives every run kind an event for each transition, with the data its transition sends", () => {
    for (const kind of RUN_KINDS) {
      const types = RUN_EVENT_TYPES[kind];
      expect(types, kind).toBeDefined();
      const fields = (t: keyof typeof EVENT_CATALOGUE) => Object.keys(EVENT_CATALOGUE[t].data.shape).sort();
      const base = ["attempt", "kind", "templateId", "templateVersion"];
      expect(fields(types!.started)).toEqual(base);
      expect(fields(types!.completed)).toEqual([...base, "durationMs"].sort());
      expect(fields(types!.failed)).toEqual([...base, "error", "step"].sort());
      expect(fields(types!.cancelled)).toEqual([...base, "step"].sort());
    }
  });
});

describe("eventBody", () => {
  const event: NewEvent = {
    type: "tenant.step.failed",
    tenantId: randomUUID(),
    runId: randomUUID(),
    data: {
      kind: "provision",
      attempt: 1,
      templateId: null,
      templateVersion: null,
      step: "RunMigrations",
      attempts: 4,
      error: { name: "MigrationError" },
    },
    dedupeKey: "x",
  };

  it("is the envelope the catalogue documents", () => {
    const id = randomUUID();
    const body = JSON.parse(eventBody(event, id, new Date("2026-03-01T12:00:00Z")));

    expect(body).toEqual({
      id,
      type: "tenant.step.failed",
      version: 1,
      timestamp: "2026-03-01T12:00:00.000Z",
      source: "tenant-provisioning",
      tenantId: event.tenantId,
      runId: event.runId,
      data: event.data,
    });
    expect(eventEnvelopeSchema("tenant.step.failed").parse(body)).toEqual(body);
  });

  it("refuses data its schema does not allow (an event is never published off its schema)", () => {
    const bad = { ...event, data: { ...event.data, step: "x".repeat(101) } } as NewEvent;

    expect(() => eventBody(bad, randomUUID(), new Date())).toThrow();
  });
});
