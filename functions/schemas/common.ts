import { z } from "zod";

/** Every failure response: `{"error":{"code","message","details"}}`. */
export const errorResponseSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.unknown().optional(),
  }),
});
export type ErrorResponse = z.infer<typeof errorResponseSchema>;

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

/** DNS label: lowercase letters, digits and hyphens, 3–63 characters, no leading/trailing hyphen. */
export const dnsLabelSchema = z
  .string()
  .regex(
    /^[a-z0-9]([a-z0-9-]{1,61})[a-z0-9]$/,
    "must be a DNS label: 3-63 lowercase letters, digits or hyphens, not starting or ending with a hyphen",
  );
