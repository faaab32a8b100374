/** Template management endpoints (admin only). */

import {
  createTemplate,
  deleteTemplate,
  getTemplate,
  listTemplates,
  listTemplateVersions,
  restoreTemplate,
  updateTemplate,
} from "../domain/templates/template-store.ts";
import { type ApiRequest, type GroupOperations, idParam, ok } from "../http/api-handler.ts";
import type { ApiDeps } from "./deps.ts";
import { lambdaEntry } from "./lambda.ts";

const actor = (req: ApiRequest) => ({ keyId: req.principal.keyId, requestId: req.requestId });

export function templateOperations({ db, clock }: ApiDeps): GroupOperations<"templates"> {
  return {
    listTemplates: async (req) => ok(await listTemplates(db, req.query)),
    getTemplate: async (req) => ok(await getTemplate(db, idParam(req, "id", "template"), req.query.version)),
    createTemplate: async (req) => ok(await createTemplate(db, req.body, actor(req), { now: clock() }), 201),
    updateTemplate: async (req) =>
      ok(await updateTemplate(db, idParam(req, "id", "template"), req.body, actor(req), clock())),
    deleteTemplate: async (req) =>
      ok(await deleteTemplate(db, idParam(req, "id", "template"), actor(req), clock())),
    restoreTemplate: async (req) =>
      ok(await restoreTemplate(db, idParam(req, "id", "template"), actor(req), clock())),
    listTemplateVersions: async (req) =>
      ok({ items: await listTemplateVersions(db, idParam(req, "id", "template")) }),
  };
}

export const handler = lambdaEntry("templates", templateOperations);
