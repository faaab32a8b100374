/** zod issues → the API's field issues (`initialData.users[3].email`), and parse-or-400. */
import type { z } from "zod";
import { type FieldIssue, RequestValidationError } from "./errors.ts";

/** Turns zod issues into field issues: `initialData.users[3].email`. */
export function fieldIssues(error: z.ZodError, prefix?: string): FieldIssue[] {
  const out: FieldIssue[] = [];
  for (const issue of error.issues) {
    const base = [...(prefix ? [prefix] : []), ...issue.path.map(String)];
    const fmt = (parts: string[]) =>
      parts.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), "") || "(body)";
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) out.push({ field: fmt([...base, key]), message: "unknown field" });
    } else {
      out.push({ field: fmt(base), message: issue.message });
    }
  }
  return out;
}

/** Parses with a zod schema, or throws a 400 that names every offending field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, prefix?: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = fieldIssues(result.error, prefix);
  throw new RequestValidationError(issues.map((i) => `${i.field}: ${i.message}`).join("; "), issues);
}
