/** Splitting SQL scripts into statements, and a script as one statement (functions/db/sql.ts). */
import { describe, expect, it } from "vitest";
import { scriptAsStatement, splitStatements } from "../../functions/db/sql.ts";

describe("splitStatements", () => {
  it("splits plain statements on semicolons and trims them", () => {
    // Prepare
    const script = "CREATE TABLE a (id int);\n\n  CREATE TABLE b (id int) ;\nSELECT 1";

    // Act
    const statements = splitStatements(script);

    // Assess
    expect(statements).toEqual(["CREATE TABLE a (id int)", "CREATE TABLE b (id int)", "SELECT 1"]);
  });

  it("drops empty statements", () => {
    // Act
    const statements = splitStatements(";;\n ; SELECT 1;;  ");

    // Assess
    expect(statements).toEqual(["SELECT 1"]);
  });

  it("keeps a $$-quoted function body whole", () => {
    // Prepare
    const fn = `CREATE FUNCTION f() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'no; never';
  RETURN NULL;
END;
$$ LANGUAGE plpgsql`;

    // Act
    const statements = splitStatements(`${fn};\nSELECT 2;`);

    // Assess
    expect(statements).toEqual([fn, "SELECT 2"]);
  });

  it("keeps a tagged $body$ block whole even when it contains $$", () => {
    // Prepare
    const block = "DO $body$ BEGIN PERFORM '$$;'; EXECUTE 'SELECT 1; SELECT 2'; END $body$";

    // Act
    const statements = splitStatements(`${block}; SELECT 3`);

    // Assess
    expect(statements).toEqual([block, "SELECT 3"]);
  });

  it("does not split inside single-quoted strings, including doubled quotes", () => {
    // Prepare
    const insert = "INSERT INTO t (v) VALUES ('a;b'), ('it''s; fine')";

    // Act
    const statements = splitStatements(`${insert}; SELECT 'x'`);

    // Assess
    expect(statements).toEqual([insert, "SELECT 'x'"]);
  });

  it("does not split inside double-quoted identifiers", () => {
    // Prepare
    const create = 'CREATE TABLE "odd;name" ("a""b;c" int)';

    // Act
    const statements = splitStatements(`${create};SELECT 1`);

    // Assess
    expect(statements).toEqual([create, "SELECT 1"]);
  });

  it("ignores semicolons and quotes in -- line comments", () => {
    // Prepare
    const script = [
      "-- header; with a semicolon and an 'unbalanced quote",
      "CREATE TABLE a (id int); -- trailing; comment",
      "-- only a comment;",
      "CREATE TABLE b (id int);",
    ].join("\n");

    // Act
    const statements = splitStatements(script);

    // Assess
    expect(statements).toEqual(["CREATE TABLE a (id int)", "CREATE TABLE b (id int)"]);
  });

  it("ignores semicolons and quotes in /* block */ comments", () => {
    // Prepare
    const script = "/* setup; don't split */ CREATE TABLE a (id int /* a; b */); SELECT 1";

    // Act
    const statements = splitStatements(script);

    // Assess
    expect(statements).toHaveLength(2);
    expect(statements[0]).toMatch(/^CREATE TABLE a \(id int\s*\)$/);
    expect(statements[1]).toBe("SELECT 1");
  });

  it("handles nested block comments as PostgreSQL does", () => {
    // Act
    const statements = splitStatements("/* outer /* inner; */ still comment; */ SELECT 1; SELECT 2");

    // Assess
    expect(statements).toEqual(["SELECT 1", "SELECT 2"]);
  });

  it("does not take a positional parameter such as $1 for a dollar quote", () => {
    // Act
    const statements = splitStatements("SELECT $1::int; SELECT $2::int");

    // Assess
    expect(statements).toEqual(["SELECT $1::int", "SELECT $2::int"]);
  });

  it("returns nothing for a script of only comments and whitespace", () => {
    // Act
    const statements = splitStatements("-- nothing here;\n  \n-- still nothing\n");

    // Assess
    expect(statements).toEqual([]);
  });
});

describe("scriptAsStatement", () => {
  it("leaves a single statement as it is", () => {
    expect(scriptAsStatement("SELECT 1;")).toBe("SELECT 1");
  });

  it("wraps several statements in one DO block that executes each, in order", () => {
    // Act
    const one = scriptAsStatement("CREATE TABLE a (x INT);\nINSERT INTO a VALUES (1);");

    // Assess
    expect(splitStatements(one)).toEqual([one]);
    expect(one).toMatch(
      /^DO \$ss\$ BEGIN\nEXECUTE \$s\$CREATE TABLE a \(x INT\)\$s\$;\nEXECUTE \$s\$INSERT INTO a VALUES \(1\)\$s\$;\nEND \$ss\$$/,
    );
  });

  it("picks dollar-quote tags the statements do not contain", () => {
    // Act
    const one = scriptAsStatement("SELECT '$s$';\nSELECT '$ss$ $sss$';");

    // Assess
    expect(splitStatements(one)).toEqual([one]);
    expect(one).toContain("EXECUTE $ss$SELECT '$s$'$ss$;");
    expect(one).toContain("EXECUTE $s$SELECT '$ss$ $sss$'$s$;");
  });
});
