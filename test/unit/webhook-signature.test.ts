/**
 * Standard Webhooks signing (functions/domain/webhooks/webhook-signature.ts): the reference
 * library's own test vector, several secrets during a rotation, and the checks a receiver makes.
 */
import { describe, expect, it } from "vitest";
import {
  generateSecret,
  sign,
  signedHeaders,
  verifySignature,
} from "../../functions/domain/webhooks/webhook-signature.ts";

/** The "sign function works" vector of the standard-webhooks JavaScript library's tests. */
const VECTOR = {
  secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
};

describe("sign", () => {
  it("produces the reference library's signature for its test vector", () => {
    expect(sign(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.body)).toBe(VECTOR.signature);
  });

  it("depends on the id, the timestamp, the body and the secret", () => {
    const base = sign(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.body);
    expect(sign(VECTOR.secret, `${VECTOR.id}x`, VECTOR.timestamp, VECTOR.body)).not.toBe(base);
    expect(sign(VECTOR.secret, VECTOR.id, VECTOR.timestamp + 1, VECTOR.body)).not.toBe(base);
    expect(sign(VECTOR.secret, VECTOR.id, VECTOR.timestamp, `${VECTOR.body} `)).not.toBe(base);
    expect(sign(generateSecret(), VECTOR.id, VECTOR.timestamp, VECTOR.body)).not.toBe(base);
  });
});

describe("signedHeaders and verifySignature", () => {
  const now = new Date(VECTOR.timestamp * 1000);

  it("signs with every secret, space-delimited, each verifying on its own", () => {
    const current = generateSecret();
    const headers = signedHeaders([current, VECTOR.secret], VECTOR.id, VECTOR.timestamp, VECTOR.body);

    expect(headers["webhook-id"]).toBe(VECTOR.id);
    expect(headers["webhook-timestamp"]).toBe(String(VECTOR.timestamp));
    expect(headers["webhook-signature"].split(" ")).toEqual([
      sign(current, VECTOR.id, VECTOR.timestamp, VECTOR.body),
      VECTOR.signature,
    ]);
    expect(verifySignature(current, headers, VECTOR.body, { now })).toBe(true);
    expect(verifySignature(VECTOR.secret, headers, VECTOR.body, { now })).toBe(true);
  });

  it("fails with a wrong secret, a changed body, an old timestamp or a missing header", () => {
    const headers = signedHeaders([VECTOR.secret], VECTOR.id, VECTOR.timestamp, VECTOR.body);

    expect(verifySignature(generateSecret(), headers, VECTOR.body, { now })).toBe(false);
    expect(verifySignature(VECTOR.secret, headers, '{"test": 2432232315}', { now })).toBe(false);
    expect(
      verifySignature(VECTOR.secret, headers, VECTOR.body, { now: new Date(now.getTime() + 301_000) }),
    ).toBe(false);
    expect(
      verifySignature(VECTOR.secret, { ...headers, "webhook-id": undefined }, VECTOR.body, { now }),
    ).toBe(false);
    expect(
      verifySignature(VECTOR.secret, { ...headers, "webhook-signature": "v1," }, VECTOR.body, { now }),
    ).toBe(false);
  });

  it("refuses to sign without a secret", () => {
    expect(() => signedHeaders([], VECTOR.id, VECTOR.timestamp, VECTOR.body)).toThrow(/secret/);
  });
});

describe("generateSecret", () => {
  it("is whsec_ and base64 of 32 random bytes, different every time", () => {
    const a = generateSecret();
    const b = generateSecret();

    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(a.slice(6), "base64")).toHaveLength(32);
    expect(a).not.toBe(b);
  });
});
