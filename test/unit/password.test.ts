/** The admin password hash the API stores before a run starts (argon2id, PHC format). */

import { scryptSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { hashPassword, needsRehash, verifyPassword } from "../../functions/domain/auth/password.ts";

const PASSWORD = "correct horse battery staple";

describe("hashPassword / verifyPassword", () => {
  it("verifies the password it hashed, and no other", async () => {
    // Act
    const hash = await hashPassword(PASSWORD);

    // Assess
    expect(await verifyPassword(PASSWORD, hash)).toBe(true);
    expect(await verifyPassword(`${PASSWORD}!`, hash)).toBe(false);
    expect(await verifyPassword(PASSWORD.toUpperCase(), hash)).toBe(false);
  });

  it("writes an argon2id PHC string at OWASP's parameters that does not contain the password", async () => {
    // Act
    const hash = await hashPassword(PASSWORD);

    // Assess: m=19 MiB, t=2, p=1; a 16-byte salt and a 32-byte hash, unpadded base64
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(needsRehash(hash)).toBe(false);
    expect(hash).not.toContain(PASSWORD);
    expect(hash).not.toContain(Buffer.from(PASSWORD).toString("base64"));
    expect(hash).not.toContain(Buffer.from(PASSWORD).toString("hex"));
  });

  it("salts every hash", async () => {
    // Act
    const [a, b] = await Promise.all([hashPassword(PASSWORD), hashPassword(PASSWORD)]);

    // Assess
    expect(a).not.toBe(b);
    expect(await verifyPassword(PASSWORD, a)).toBe(true);
    expect(await verifyPassword(PASSWORD, b)).toBe(true);
  });

  it.each([
    // argon2-cffi (the C reference implementation), from a published example
    [
      "password",
      "$argon2id$v=19$m=32768,t=16,p=2$Rfy6J41W9idBU+n/8sZc6Q$i3QYYPtoogIAw78I2qqlUQ8vjzUXGG1V6QsBOq2NIp4",
    ],
    // Go's golang.org/x/crypto/argon2, from a published example
    [
      "mySuperPass",
      "$argon2id$v=19$m=3906,t=4,p=1$ejcSAnKlTR6fhI0SRV7cUw$6EvE9S1qgsA8PoS96uZzuBGZZWCaeK91CHdHHYzn/mA",
    ],
  ])("verifies PHC strings other argon2id implementations wrote (%s)", async (password, stored) => {
    // Act + Assess: the format is the one other libraries read and write (a wrong password and a
    // changed hash are checked on the cheaper hash only: argon2-cffi's costs 16 passes over 32 MiB)
    expect(await verifyPassword(password, stored)).toBe(true);
    if (stored.includes("m=32768,t=16")) return;
    expect(await verifyPassword(`${password}x`, stored)).toBe(false);
    const tampered = stored.replace(/.$/, (c) => (c === "A" ? "B" : "A"));
    expect(await verifyPassword(password, tampered)).toBe(false);
  });

  it("still verifies hashes of the earlier scrypt format, and says they need a rehash", async () => {
    // Prepare: a hash as the service wrote them before (scrypt N=2^14, r=8, p=1)
    const salt = Buffer.from("0123456789abcdef");
    const key = scryptSync(PASSWORD, salt, 64, { N: 16384, r: 8, p: 1 });
    const stored = `scrypt$16384$8$1$${salt.toString("base64")}$${key.toString("base64")}`;

    // Act + Assess
    expect(await verifyPassword(PASSWORD, stored)).toBe(true);
    expect(await verifyPassword(`${PASSWORD}?`, stored)).toBe(false);
    expect(needsRehash(stored)).toBe(true);
    expect(needsRehash("$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaA")).toBe(true);
  });

  it.each([
    ["another scheme", "bcrypt$10$abc$def"],
    ["a malformed PHC string", "$argon2id$v=19$m=19456$bad"],
    ["missing parts", "scrypt$16384$8$1$c2FsdA=="],
    ["an empty string", ""],
  ])("rejects a stored value with %s", async (_what, stored) => {
    // Act + Assess
    expect(await verifyPassword(PASSWORD, stored)).toBe(false);
  });
});
