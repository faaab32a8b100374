/** zod issues → the API's field issues (`initialData.users[3].email`), and parse-or-400. */
import type { z } from "zod";
import { type FieldIssue, RequestValidationError } from "./errors.ts";

/** A field path as the API names it: `initialData.users[3].email`; the whole body is `(body)`. */
export function fieldName(path: readonly PropertyKey[]): string {
  return (
    path.map(String).reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), "") ||
    "(body)"
  );
}

/** Turns zod issues into field issues: `initialData.users[3].email`. */
export function fieldIssues(error: z.ZodError, prefix?: string): FieldIssue[] {
  const out: FieldIssue[] = [];
  for (const issue of error.issues) {
    const base = [...(prefix ? [prefix] : []), ...issue.path.map(String)];
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) out.push({ field: fieldName([...base, key]), message: "unknown field" });
    } else {
      out.push({ field: fieldName(base), message: issue.message });
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

// ---------------------------------------------------------------------------------------------
// Text PostgreSQL cannot store, and JSON nested too deep
// ---------------------------------------------------------------------------------------------

/**
 * NUL, or a UTF-16 surrogate without its pair. PostgreSQL's text types cannot hold NUL ("invalid
 * byte sequence for encoding UTF8: 0x00"), jsonb rejects `\u0000` and unpaired surrogate escapes,
 * and an unpaired surrogate is not Unicode text at all: such a value could only fail later, as a 500.
 */
const NUL = String.fromCharCode(0);
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export const UNSTORABLE_TEXT_MESSAGE = "must not contain NUL characters or unpaired UTF-16 surrogates";

/** Whether a string is text every driver can store (no NUL, no unpaired surrogate). */
export function isStorableText(text: string): boolean {
  return !text.includes(NUL) && !UNPAIRED_SURROGATE.test(text);
}

/**
 * How deep a request body may nest (objects and arrays, the body itself is level 1). jsonb has no
 * nesting limit of its own, only the server's stack (`max_stack_depth`, 2 MB by default: "stack
 * depth limit exceeded"), and some jsonb functions recurse deeper than parsing does
 * (pgsql-hackers, "jsonb nesting level edge case", 2018); zod's recursive `z.json()` overflows the
 * Node stack near 2,000 levels. The deepest field of the API is a configuration value at level 6;
 * 64 leaves a value 58 levels of its own.
 */
export const MAX_JSON_DEPTH = 64;

/** At most this many problems are reported for one body (a 1 MB body could hold thousands). */
const MAX_REPORTED = 20;

export interface ValueIssue {
  readonly path: PropertyKey[];
  readonly message: string;
}

/** A member name as it can be shown back: unstorable characters become U+FFFD. */
const showable = (key: string) =>
  key.replaceAll(NUL, "\ufffd").replace(new RegExp(UNPAIRED_SURROGATE.source, "g"), "\ufffd");

/**
 * Every string (values and member names) of a parsed JSON value that cannot be stored, and every
 * place it nests deeper than `maxDepth`. Iterative, and it never descends past `maxDepth`: a body
 * nested 500,000 levels deep must not overflow the stack here either.
 */
export function unstorableJsonIssues(value: unknown, maxDepth = MAX_JSON_DEPTH): ValueIssue[] {
  const issues: ValueIssue[] = [];
  const stack: { value: unknown; path: PropertyKey[]; depth: number }[] = [{ value, path: [], depth: 0 }];
  while (stack.length > 0 && issues.length < MAX_REPORTED) {
    const item = stack.pop()!;
    if (typeof item.value === "string") {
      if (!isStorableText(item.value)) issues.push({ path: item.path, message: UNSTORABLE_TEXT_MESSAGE });
      continue;
    }
    if (typeof item.value !== "object" || item.value === null) continue;
    const depth = item.depth + 1;
    if (depth > maxDepth) {
      issues.push({ path: item.path, message: `must not nest deeper than ${maxDepth} levels` });
      continue;
    }
    const entries: [PropertyKey, unknown][] = Array.isArray(item.value)
      ? item.value.map((v, i) => [i, v])
      : Object.entries(item.value);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i]!;
      if (typeof key === "string" && !isStorableText(key)) {
        issues.push({
          path: [...item.path, showable(key)],
          message: `field name ${UNSTORABLE_TEXT_MESSAGE}`,
        });
        continue;
      }
      stack.push({ value: child, path: [...item.path, key], depth });
    }
  }
  return issues;
}
