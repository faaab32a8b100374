/**
 * Failures injected into a test service's database: a BEFORE INSERT trigger on `table` that
 * raises `sqlstate` for the rows `when` selects (a condition on NEW), the first `times` times
 * (a sequence counts them: rollbacks do not undo it), or always.
 */

export interface InsertFailure {
  /** Names the trigger, its function and sequence: unique per test (derive it from the slug). */
  readonly name: string;
  readonly table: string;
  /** A SQL condition on NEW, e.g. a subquery naming the tenant by slug. */
  readonly when: string;
  readonly sqlstate: string;
  /** What follows RAISE EXCEPTION: a format string and its arguments, e.g. `'failed for %', NEW.email`. */
  readonly message: string;
  readonly times?: number;
}

/**
 * Installs the trigger with `run` (which executes one statement on the database to change);
 * returns a function that removes it (calling it again does nothing).
 */
export async function failInserts(
  run: (statement: string) => Promise<unknown>,
  failure: InsertFailure,
): Promise<() => Promise<void>> {
  const fn = failure.name.replace(/[^a-z0-9_]/gi, "_").toLowerCase();
  const seq = `${fn}_seq`;
  const counted = failure.times !== undefined;
  if (counted) await run(`CREATE SEQUENCE ${seq}`);
  const raise = `RAISE EXCEPTION ${failure.message} USING ERRCODE = '${failure.sqlstate}';`;
  await run(`CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF ${failure.when} THEN
    ${counted ? `IF nextval('${seq}') <= ${failure.times} THEN ${raise} END IF;` : raise}
  END IF;
  RETURN NEW;
END
$$`);
  await run(`CREATE TRIGGER ${fn} BEFORE INSERT ON ${failure.table} FOR EACH ROW EXECUTE FUNCTION ${fn}()`);
  let removed = false;
  return async () => {
    if (removed) return;
    removed = true;
    await run(`DROP TRIGGER IF EXISTS ${fn} ON ${failure.table}`);
    await run(`DROP FUNCTION IF EXISTS ${fn}()`);
    if (counted) await run(`DROP SEQUENCE IF EXISTS ${seq}`);
  };
}

/** The condition that selects one tenant's rows (by slug, known before its run starts). */
export const tenantWithSlug = (slug: string) =>
  `EXISTS (SELECT 1 FROM tenants t WHERE t.id = NEW.tenant_id AND t.slug = '${slug.replace(/'/g, "''")}')`;

/** The condition that selects the rows of any of these tenants (by slug). */
export const tenantWithSlugIn = (slugs: readonly string[]) =>
  `EXISTS (SELECT 1 FROM tenants t WHERE t.id = NEW.tenant_id AND t.slug IN (${slugs
    .map((s) => `'${s.replace(/'/g, "''")}'`)
    .join(", ")}))`;
