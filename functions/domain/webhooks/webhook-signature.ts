/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com, spec 1.0, symmetric scheme):
 * every delivery carries `webhook-id` (the event's id, the same on every attempt),
 * `webhook-timestamp` (the attempt's time, integer Unix seconds) and `webhook-signature`, a
 * space-delimited list of `v1,<base64 HMAC-SHA256>` over `{webhook-id}.{webhook-timestamp}.{body}`
 * under the secret's key — the base64 after the `whsec_` prefix, decoded. While a rotated-out
 * secret still overlaps, each delivery is signed with both, so a receiver verifies with either.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const SECRET_PREFIX = "whsec_";
/** The spec asks for at least 24 random bytes (at most 64); 32 is HMAC-SHA256's block-friendly size. */
const SECRET_BYTES = 32;

/** A new signing secret: `whsec_` + base64 of 32 random bytes. */
export function generateSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(SECRET_BYTES).toString("base64")}`;
}

/** The HMAC key of a secret (the prefix is optional, as receivers' libraries accept both). */
export function secretKey(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const key = Buffer.from(encoded, "base64");
  if (key.length === 0) throw new Error("a webhook secret must be base64 after its whsec_ prefix");
  return key;
}

/** One signature: `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`. */
export function sign(secret: string, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac("sha256", secretKey(secret)).update(`${id}.${timestampSeconds}.${body}`, "utf8");
  return `v1,${mac.digest("base64")}`;
}

/** A type alias (not an interface), so that it is a plain header record to whoever takes one. */
export type SignedHeaders = {
  readonly "webhook-id": string;
  readonly "webhook-timestamp": string;
  readonly "webhook-signature": string;
};

/** The three headers of one attempt, signed with every given secret (current first). */
export function signedHeaders(
  secrets: readonly string[],
  id: string,
  timestampSeconds: number,
  body: string,
): SignedHeaders {
  if (secrets.length === 0) throw new Error("at least one secret is needed to sign");
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestampSeconds),
    "webhook-signature": secrets.map((s) => sign(s, id, timestampSeconds, body)).join(" "),
  };
}

export interface VerifyOptions {
  /** Seconds the timestamp may differ from now (the spec's example uses 5 minutes). */
  readonly toleranceSeconds?: number;
  readonly now?: Date;
}

/**
 * What a receiver does (and the tests do): the timestamp within tolerance, and one of the `v1`
 * signatures equal, in constant time, to the one computed with `secret`.
 */
export function verifySignature(
  secret: string,
  headers: Readonly<Record<string, string | undefined>>,
  body: string,
  options: VerifyOptions = {},
): boolean {
  const id = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  const signatures = headers["webhook-signature"];
  if (!id || !timestamp || !signatures || !/^\d+$/.test(timestamp)) return false;
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  if (Math.abs(now - Number(timestamp)) > (options.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(sign(secret, id, Number(timestamp), body).slice(3), "base64");
  return signatures.split(" ").some((entry) => {
    const [version, value] = entry.split(",", 2);
    if (version !== "v1" || !value) return false;
    const given = Buffer.from(value, "base64");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
