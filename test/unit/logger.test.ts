/** The logger keeps values out of logs: a failed query's parameters, and the text of a code block holding literals. */
import { describe, expect, it } from "vitest";
import { createLogger, serialiseError } from "../../functions/shared/logger.ts";

describe("serialiseError", () => {
  it("keeps a failed parameterised query's SQL but not its parameters", () => {
    const error = new Error(
      'Failed query: insert into "users" ("email") values ($1)\nparams: someone@example.org',
    );
    expect(serialiseError(error)).toMatchObject({
      message: 'Failed query: insert into "users" ("email") values ($1)',
    });
  });

  it("leaves out the whole text of a failed code block, whose values are written into it", () => {
    const error = new Error(
      "Failed query: DO $s$ BEGIN\nEXECUTE $x$insert into users values (E'someone@example.org')$x$;\nEND $s$\nparams: ",
    );
    const logged: string[] = [];
    createLogger("error", (line) => logged.push(line)).error("step failed", { error });
    expect(logged).toHaveLength(1);
    expect(logged[0]).not.toContain("someone@example.org");
    expect(JSON.parse(logged[0]!).error.message).toBe(
      "Failed query: DO block (its text holds values and is not logged)",
    );
  });

  it("keeps a cause's driver message (the reason) while leaving the block's text out", () => {
    const error = new Error("Failed query: DO $s$ BEGIN END $s$", {
      cause: new Error('duplicate key value violates unique constraint "users_email_key"'),
    });
    expect(serialiseError(error)).toMatchObject({
      cause: { message: 'duplicate key value violates unique constraint "users_email_key"' },
    });
  });
});
