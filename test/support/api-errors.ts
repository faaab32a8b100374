import { expect } from "vitest";
import type { HttpResult } from "./server.ts";

/**
 * Asserts the API's one error shape: `status`, `{ error: { code, message } }` (the given code or
 * any), and, when given, the field that `error.details.fields` names.
 */
export function expectApiError(
  res: HttpResult<any>,
  status: number,
  expected: { readonly code?: string; readonly field?: string | undefined } = {},
): void {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body).toMatchObject({
    error: { code: expected.code ?? expect.any(String), message: expect.any(String) },
  });
  if (expected.field !== undefined) {
    expect(res.body.error.details?.fields, JSON.stringify(res.body)).toEqual(
      expect.arrayContaining([expect.objectContaining({ field: expected.field })]),
    );
  }
}
