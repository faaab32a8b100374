/** Webhook subscriptions and their deliveries (admin only). */
import {
  createWebhook,
  deleteWebhook,
  enableWebhook,
  getDelivery,
  getWebhook,
  listDeliveries,
  listWebhooks,
  redeliver,
  rotateWebhookSecret,
  testWebhook,
  type WebhookAdminDeps,
} from "../domain/webhooks/webhook-store.ts";
import { type GroupOperations, idParam, ok } from "../http/api-handler.ts";
import { ServiceUnavailableError } from "../shared/errors.ts";
import type { ApiDeps } from "./deps.ts";
import { lambdaEntry } from "./lambda.ts";

export function webhookOperations(deps: ApiDeps): GroupOperations<"webhooks"> {
  const { db } = deps;
  const admin = (): WebhookAdminDeps => {
    if (!deps.webhooks) throw new ServiceUnavailableError("webhooks are not configured on this deployment");
    return { db, clock: deps.clock, ...deps.webhooks };
  };
  const webhookId = (req: { params: Readonly<Record<string, string>> }) => idParam(req, "id", "webhook");
  const deliveryId = (req: { params: Readonly<Record<string, string>> }) =>
    idParam(req, "deliveryId", "delivery");
  return {
    listWebhooks: async () => ok({ items: await listWebhooks(db) }),
    createWebhook: async (req) => ok(await createWebhook(admin(), req.body, req.actor), 201),
    getWebhook: async (req) => ok(await getWebhook(db, webhookId(req))),
    deleteWebhook: async (req) => ok(await deleteWebhook(db, webhookId(req), req.actor)),
    rotateWebhookSecret: async (req) =>
      ok(await rotateWebhookSecret(admin(), webhookId(req), req.body.overlapHours, req.actor)),
    enableWebhook: async (req) => ok(await enableWebhook(admin(), webhookId(req), req.actor)),
    testWebhook: async (req) => ok(await testWebhook(admin(), webhookId(req), req.actor), 202),
    listWebhookDeliveries: async (req) => ok(await listDeliveries(db, webhookId(req), req.query)),
    getWebhookDelivery: async (req) => ok(await getDelivery(db, webhookId(req), deliveryId(req))),
    redeliverWebhookDelivery: async (req) =>
      ok(await redeliver(admin(), webhookId(req), deliveryId(req), req.actor), 202),
  };
}

export const handler = lambdaEntry("webhooks", webhookOperations);
