-- A read that waits at most `lock_timeout` for the locks it takes, in ONE autocommit statement.
-- Why a function: outside a transaction an RDS Data API call cannot run SET LOCAL first, and a
-- plain SELECT takes its table locks while it is parsed — before a set_config() in it would run.
-- Here set_config runs first and the query is parsed by EXECUTE after it, so the query's locks are
-- taken under the timeout (which ends with the call's own transaction). A step reads its run's
-- spec this way in one call instead of Begin, SET, the reads and Commit.
-- Each row comes back as one jsonb value. The query is SQL the service writes, never user input.
CREATE FUNCTION read_with_lock_timeout(wait TEXT, query TEXT) RETURNS SETOF JSONB
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('lock_timeout', wait, true);
  RETURN QUERY EXECUTE format('SELECT to_jsonb(q) FROM (%s) q', query);
END
$$;
