import { expect } from "vitest";
import type { HttpResult } from "./server.ts";

/**
 * Asserts the API's one error shape: `status`, `{ error: { code, message, details } }` (the given
 * code or any) with `details.requestId` equal to the `x-request-id` header, the API's response
 * headers, and, when given, the field that `error.details.fields` names.
 */
export function expectApiError(
  res: HttpResult<any>,
  status: number,
  expected: { readonly code?: string; readonly field?: string | undefined } = {},
): void {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expectErrorShape(res);
  if (expected.code !== undefined) expect(res.body.error.code, JSON.stringify(res.body)).toBe(expected.code);
  if (expected.field !== undefined) {
    expect(res.body.error.details?.fields, JSON.stringify(res.body)).toEqual(
      expect.arrayContaining([expect.objectContaining({ field: expected.field })]),
    );
  }
}

/** The error shape and headers alone, whatever the status (for fuzzing). */
export function expectErrorShape(res: HttpResult<any>): void {
  const requestId = res.headers.get("x-request-id");
  expect(requestId, "x-request-id header").toMatch(/\S/);
  expect(res.body, `${res.status} ${JSON.stringify(res.body)}`).toMatchObject({
    error: { code: expect.any(String), message: expect.any(String), details: { requestId } },
  });
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  expect(res.headers.get("cache-control")).toBe("no-store");
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  if (res.status === 401) expect(res.headers.get("www-authenticate")).toBe("Bearer");
  if (res.body.error.details.fields !== undefined) {
    expect(res.body.error.details.fields).toEqual(
      expect.arrayContaining([{ field: expect.any(String), message: expect.any(String) }]),
    );
  }
}
