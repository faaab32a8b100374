/** Template management endpoints (admin only). */

import { assertConfiguredCell } from "../domain/cells/cell-admin.ts";
import { cellsOf } from "../domain/cells/cell-directory.ts";
import {
  createTemplate,
  deleteTemplate,
  getTemplate,
  listTemplates,
  listTemplateVersions,
  restoreTemplate,
  updateTemplate,
} from "../domain/templates/template-store.ts";
import { type GroupOperations, idParam, ok } from "../http/api-handler.ts";
import type { ApiDeps } from "./deps.ts";
import { lambdaEntry } from "./lambda.ts";

export function templateOperations(deps: ApiDeps): GroupOperations<"templates"> {
  const { db, clock } = deps;
  const cells = cellsOf(deps);
  return {
    listTemplates: async (req) => ok(await listTemplates(db, req.query)),
    getTemplate: async (req) => ok(await getTemplate(db, idParam(req, "id", "template"), req.query.version)),
    createTemplate: async (req) => {
      assertConfiguredCell(cells, req.body.cell);
      return ok(await createTemplate(db, req.body, req.actor, { now: clock() }), 201);
    },
    updateTemplate: async (req) => {
      const id = idParam(req, "id", "template");
      assertConfiguredCell(cells, req.body.cell);
      return ok(await updateTemplate(db, id, req.body, req.actor, clock()));
    },
    deleteTemplate: async (req) =>
      ok(await deleteTemplate(db, idParam(req, "id", "template"), req.actor, clock())),
    restoreTemplate: async (req) =>
      ok(await restoreTemplate(db, idParam(req, "id", "template"), req.actor, clock())),
    listTemplateVersions: async (req) =>
      ok({ items: await listTemplateVersions(db, idParam(req, "id", "template")) }),
  };
}

export const handler = lambdaEntry("templates", templateOperations);
