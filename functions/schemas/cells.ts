/** Cell shapes (the tenant databases, functions/domain/cells/), shared by the API, OpenAPI and the CLI. */
import { z } from "zod";
import { CELL_NAME } from "../shared/config.ts";
import { isoDateTime } from "./common.ts";

/** A cell name as `TENANT_CELLS` spells it (`main` is the control-plane database's own cell). */
export const cellNameSchema = z
  .string()
  .regex(CELL_NAME, "must be a cell name: lower-case letters, digits and dashes");

export const cellSchema = z.object({
  name: z.string(),
  /** Whether placement may put new tenants here; a closed cell keeps serving the tenants it has. */
  acceptsTenants: z.boolean(),
  /** Whether this deployment can reach it (`main`, or named in `TENANT_CELLS`); only those take tenants. */
  configured: z.boolean(),
  /** Its tenants that are not deprovisioned. */
  tenants: z.number().int(),
  createdAt: isoDateTime,
  updatedAt: isoDateTime,
});
export type CellInfo = z.infer<typeof cellSchema>;

export const cellListSchema = z.object({ items: z.array(cellSchema) });
