import { z } from "zod";
import { unstorableJsonIssues } from "../shared/validation.ts";

/**
 * Every failure response: `{"error":{"code","message","details"}}`. `details` is always there and
 * names the request (`requestId`, also the `x-request-id` header); a 400 lists `fields`.
 */
export const errorResponseSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.looseObject({
      requestId: z.string(),
      fields: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
    }),
  }),
});
export type ErrorResponse = z.infer<typeof errorResponseSchema>;

/**
 * The one check every request body passes before its route's schema: no string or member name
 * holds text PostgreSQL cannot store (NUL, unpaired surrogates), and nothing nests deeper than
 * MAX_JSON_DEPTH. One refinement for every string field of every route, present and future.
 */
export const storableJsonSchema = z.unknown().superRefine((value, ctx) => {
  for (const issue of unstorableJsonIssues(value)) {
    ctx.addIssue({ code: "custom", path: issue.path, message: issue.message });
  }
});

/** PostgreSQL `integer` (int4): a larger number in a query would fail in the database, not here. */
export const INT4_MAX = 2_147_483_647;

export const uuidSchema = z.uuid({ message: "must be a UUID" });

export const paginationQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

/** A page of items with the total that matched. */
export function pageSchema<T extends z.ZodType>(item: T) {
  return z.object({
    items: z.array(item),
    total: z.number().int(),
    limit: z.number().int(),
    offset: z.number().int(),
  });
}

export const isoDateTime = z.string().describe("ISO 8601 date-time");

/** The range both PostgreSQL timestamps and JavaScript's four-digit ISO years hold (and whole UTC days fit in). */
const EARLIEST_INSTANT = "0001-01-01T00:00:00Z";
const LATEST_INSTANT = "9999-12-31T00:00:00Z";

/**
 * An ISO 8601 instant with its zone, within years 1 to 9999 once in UTC: `0000-01-01` has no
 * PostgreSQL spelling, and an instant in the last day of 9999 has no next whole day.
 */
export function instantSchema(example: string) {
  return z.iso
    .datetime({ offset: true, message: `must be an ISO 8601 date-time with a zone, e.g. ${example}` })
    .refine((v) => {
      const t = Date.parse(v);
      return t >= Date.parse(EARLIEST_INSTANT) && t <= Date.parse(LATEST_INSTANT);
    }, `must be between ${EARLIEST_INSTANT} and ${LATEST_INSTANT}`);
}

/** DNS label: lowercase letters, digits and hyphens, 3–63 characters, no leading/trailing hyphen. */
export const dnsLabelSchema = z
  .string()
  .regex(
    /^[a-z0-9]([a-z0-9-]{1,61})[a-z0-9]$/,
    "must be a DNS label: 3-63 lowercase letters, digits or hyphens, not starting or ending with a hyphen",
  );
