/**
 * Cell endpoints (admin only): list the cells, close one to new tenants, open it again. Served by
 * the operations group's Lambda (functions/api/operations.ts).
 */

import { listCells, setCellAcceptsTenants } from "../domain/cells/cell-admin.ts";
import { cellsOf } from "../domain/cells/cell-directory.ts";
import { type GroupOperations, ok } from "../http/api-handler.ts";
import { CELL_NAME } from "../shared/config.ts";
import { NotFoundError } from "../shared/errors.ts";
import type { ApiDeps } from "./deps.ts";

/** The `{name}` of the path; a name no cell could have is a 404 like an unknown one. */
function cellParam(req: { params: Readonly<Record<string, string>> }): string {
  const name = req.params.name;
  if (!name || !CELL_NAME.test(name)) throw new NotFoundError("cell", name);
  return name;
}

export function cellOperations(
  deps: ApiDeps,
): Pick<GroupOperations<"operations">, "listCells" | "closeCell" | "openCell"> {
  const { db, clock } = deps;
  const directory = cellsOf(deps);
  return {
    listCells: async () => ok({ items: await listCells(db, directory) }),
    closeCell: async (req) =>
      ok(await setCellAcceptsTenants(db, directory, cellParam(req), false, req.actor, clock())),
    openCell: async (req) =>
      ok(await setCellAcceptsTenants(db, directory, cellParam(req), true, req.actor, clock())),
  };
}
