/** The admin password hash the API stores before a run starts (scrypt). */
import { describe, expect, it } from "vitest";
import { hashPassword, verifyPassword } from "../../functions/domain/auth/password.ts";

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

  it("writes a self-describing scrypt hash that does not contain the password", async () => {
    // Act
    const hash = await hashPassword(PASSWORD);

    // Assess
    expect(hash).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
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
    ["another scheme", "bcrypt$10$abc$def"],
    ["missing parts", "scrypt$16384$8$1$c2FsdA=="],
    ["an empty string", ""],
  ])("rejects a stored value with %s", async (_what, stored) => {
    // Act + Assess
    expect(await verifyPassword(PASSWORD, stored)).toBe(false);
  });
});
