/**
 * Provisioning endpoints: from a template (now or at a scheduled time), or custom with an inline
 * spec (admin only); batches of either (bulk provisioning); accepting
 * an admin invitation (public: the token is the credential).
 */
import {
  cancelBatch,
  getBatch,
  requestBatch,
  retryBatch,
  scheduleBatch,
} from "../domain/batches/batch-service.ts";
import { acceptInvitation } from "../domain/provisioning/admin-invitations.ts";
import { requestProvisioning } from "../domain/provisioning/provision-service.ts";
import { scheduleProvisioning } from "../domain/provisioning/schedule-provisioning.ts";
import { getUsableTemplate } from "../domain/templates/template-store.ts";
import { type ApiRequest, type GroupOperations, idParam, ok } from "../http/api-handler.ts";
import { RequestValidationError } from "../shared/errors.ts";
import type { ApiDeps } from "./deps.ts";
import { lambdaEntry } from "./lambda.ts";

function idempotencyKey(req: ApiRequest): string | undefined {
  const key = req.headers["idempotency-key"];
  if (key === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
    throw RequestValidationError.field("Idempotency-Key", "must be 1-255 visible ASCII characters");
  }
  return key;
}

export function provisioningOperations(deps: ApiDeps): GroupOperations<"provisioning"> {
  return {
    provisionFromTemplate: async (req) => {
      const template = await getUsableTemplate(deps.db, idParam(req, "id", "template"));
      const { record, created } = await requestProvisioning(deps, {
        request: req.body,
        template: { id: template.id, version: template.version },
        spec: { ...template, description: template.description ?? undefined },
        idempotencyKey: idempotencyKey(req),
        actor: req.actor,
      });
      return ok(record, 202, created ? {} : { "idempotent-replay": "true" });
    },
    scheduleProvision: async (req) => {
      const template = await getUsableTemplate(deps.db, idParam(req, "id", "template"));
      const { at, ...request } = req.body;
      const schedule = await scheduleProvisioning(
        deps,
        {
          request,
          template: { id: template.id, version: template.version },
          spec: { ...template, description: template.description ?? undefined },
          actor: req.actor,
        },
        at,
      );
      return ok(schedule, 201);
    },
    provisionCustom: async (req) => {
      const { template, ...request } = req.body;
      const { record, created } = await requestProvisioning(deps, {
        request,
        template: null,
        spec: { ...template, description: template.description ?? undefined },
        idempotencyKey: idempotencyKey(req),
        actor: req.actor,
      });
      return ok(record, 202, created ? {} : { "idempotent-replay": "true" });
    },
    createBatch: async (req) => {
      const { batch, created } = await requestBatch(deps, {
        request: req.body,
        idempotencyKey: idempotencyKey(req),
        actor: req.actor,
      });
      return ok(batch, 202, created ? {} : { "idempotent-replay": "true" });
    },
    scheduleBatch: async (req) => {
      const { at, ...request } = req.body;
      return ok(await scheduleBatch(deps, { request, actor: req.actor }, at), 201);
    },
    getBatch: async (req) => ok(await getBatch(deps.db, idParam(req, "id", "batch"), req.query)),
    cancelBatch: async (req) => ok(await cancelBatch(deps, idParam(req, "id", "batch"), req.actor)),
    retryBatch: async (req) => ok(await retryBatch(deps, idParam(req, "id", "batch"), req.actor), 202),
    // A public route has no key: the audit entry names the request only.
    acceptInvitation: async (req) =>
      ok(await acceptInvitation(deps, req.body, { keyId: null, requestId: req.requestId })),
  };
}

export const handler = lambdaEntry("provisioning", provisioningOperations);
