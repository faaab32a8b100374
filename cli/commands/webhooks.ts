/**
 * `webhooks add | list | show | remove | deliveries | delivery | redeliver | test | rotate-secret |
 * enable`: webhook subscriptions to lifecycle events (admin keys), their deliveries and attempts.
 */
import {
  ALL_EVENTS,
  createWebhookSchema,
  DELIVERY_STATUSES,
  listDeliveriesQuerySchema,
  MAX_SECRET_OVERLAP_HOURS,
  rotateWebhookSecretSchema,
} from "../../functions/schemas/events.ts";
import { type Command, defineCommand, definedOnly, parseFlags } from "../command.ts";
import {
  deliveryDetails,
  deliveryLine,
  deliveryList,
  webhookDetails,
  webhookList,
  webhookWithSecret,
} from "../webhook-views.ts";

const LIMIT = {
  type: "string",
  value: "N",
  description: "at most N deliveries (1-200; default 50)",
} as const;
const OFFSET = { type: "string", value: "N", description: "skip the first N deliveries" } as const;

/** `a,b , c` → `["a","b","c"]`. */
const list = (value: string | undefined) =>
  value === undefined
    ? undefined
    : value
        .split(",")
        .map((v) => v.trim())
        .filter((v) => v !== "");

export const webhookCommands: readonly Command[] = [
  defineCommand({
    path: ["webhooks", "add"],
    summary: "Subscribe a URL to lifecycle events; the signing secret is shown in this answer only",
    description:
      "Deliveries are signed the Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature). " +
      "The URL must be https (http only to loopback against a local server); private, link-local and " +
      "metadata addresses are refused. Event types: GET /api/events.json lists them.",
    args: [],
    options: {
      url: { type: "string", value: "URL", required: true, description: "where to POST the events" },
      events: {
        type: "string",
        value: "TYPES",
        required: true,
        description: `comma-separated event types, or ${ALL_EVENTS} for all`,
      },
      description: { type: "string", value: "TEXT", description: "what the subscription is for" },
    },
    examples: [
      "tenant-provisioning webhooks add --url https://billing.example.com/hooks --events tenant.provisioning.completed,tenant.deleted",
      `tenant-provisioning webhooks add --url http://127.0.0.1:9000/events --events '${ALL_EVENTS}'`,
    ],
    async run(ctx) {
      const body = parseFlags(
        createWebhookSchema,
        definedOnly({
          url: ctx.flags.url,
          eventTypes: list(ctx.flags.events),
          description: ctx.flags.description,
        }),
        { url: "--url", eventTypes: "--events", description: "--description" },
        "options",
        ["webhooks", "add"],
      );
      const res = await ctx.api.call("createWebhook", { body });
      ctx.emit(res.raw, () => webhookWithSecret(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["webhooks", "list"],
    summary: "List webhook subscriptions",
    args: [],
    options: {},
    async run(ctx) {
      const res = await ctx.api.call("listWebhooks", {});
      ctx.emit(res.raw, () => webhookList(res.data.items, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["webhooks", "show"],
    summary: "One subscription: status, failure streak, secret overlap",
    args: ["id"],
    options: {},
    async run(ctx) {
      const res = await ctx.api.call("getWebhook", { params: { id: ctx.args.id } });
      ctx.emit(res.raw, () => webhookDetails(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["webhooks", "remove"],
    summary: "Remove a subscription and its deliveries; nothing more is sent to it",
    args: ["id"],
    options: {},
    async run(ctx) {
      const res = await ctx.api.call("deleteWebhook", { params: { id: ctx.args.id } });
      ctx.emit(res.raw, () => webhookDetails(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["webhooks", "deliveries"],
    summary: "A subscription's deliveries, newest first",
    args: ["id"],
    options: {
      status: { type: "string", value: "STATUS", description: `one of ${DELIVERY_STATUSES.join(", ")}` },
      limit: LIMIT,
      offset: OFFSET,
    },
    async run(ctx) {
      const query = { status: ctx.flags.status, limit: ctx.flags.limit, offset: ctx.flags.offset };
      parseFlags(
        listDeliveriesQuerySchema,
        definedOnly(query),
        { status: "--status", limit: "--limit", offset: "--offset" },
        "options",
        ["webhooks", "deliveries"],
      );
      const res = await ctx.api.call("listWebhookDeliveries", { params: { id: ctx.args.id }, query });
      ctx.emit(res.raw, () => deliveryList(res.data.items, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["webhooks", "delivery"],
    summary: "One delivery: every attempt (outcome, HTTP status, latency, error)",
    args: ["id", "deliveryId"],
    options: {},
    async run(ctx) {
      const res = await ctx.api.call("getWebhookDelivery", {
        params: { id: ctx.args.id, deliveryId: ctx.args.deliveryId },
      });
      ctx.emit(res.raw, () => deliveryDetails(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["webhooks", "redeliver"],
    summary: "Deliver an event again now (same webhook-id), with a new retry window",
    args: ["id", "deliveryId"],
    options: {},
    async run(ctx) {
      const res = await ctx.api.call("redeliverWebhookDelivery", {
        params: { id: ctx.args.id, deliveryId: ctx.args.deliveryId },
      });
      ctx.emit(res.raw, () => deliveryLine(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["webhooks", "test"],
    summary: "Send a webhook.test event to this subscription",
    args: ["id"],
    options: {},
    async run(ctx) {
      const res = await ctx.api.call("testWebhook", { params: { id: ctx.args.id } });
      ctx.emit(res.raw, () => deliveryLine(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["webhooks", "rotate-secret"],
    summary: "A new signing secret (shown once); the old one keeps signing for --overlap hours",
    args: ["id"],
    options: {
      overlap: {
        type: "string",
        value: "HOURS",
        description: `hours both secrets sign (0-${MAX_SECRET_OVERLAP_HOURS}; default 24)`,
      },
    },
    async run(ctx) {
      const overlap = ctx.flags.overlap;
      const body = parseFlags(
        rotateWebhookSecretSchema,
        definedOnly({ overlapHours: overlap === undefined ? undefined : Number(overlap) }),
        { overlapHours: "--overlap" },
        "options",
        ["webhooks", "rotate-secret"],
      );
      const res = await ctx.api.call("rotateWebhookSecret", { params: { id: ctx.args.id }, body });
      ctx.emit(res.raw, () => webhookWithSecret(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["webhooks", "enable"],
    summary: "Enable a disabled subscription again; its pending deliveries resume",
    args: ["id"],
    options: {},
    async run(ctx) {
      const res = await ctx.api.call("enableWebhook", { params: { id: ctx.args.id } });
      ctx.emit(res.raw, () => webhookDetails(res.data, ctx.style));
      return 0;
    },
  }),
];
