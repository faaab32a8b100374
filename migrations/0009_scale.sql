-- Scale (issue 18): background work bounded per sweep, not per fleet.

-- Where the sweep's round-robin over tenants stands. `tenant_limits`: the limit checks go through
-- tenants in id order, a batch per sweep, so that every tenant is checked once per round and a
-- round takes at most TENANT_LIMIT_CHECK_PERIOD_SECONDS (functions/domain/operations/alert-checks.ts).
-- `position` is the last tenant id checked in the round (NULL: the round has not checked any yet).
CREATE TABLE sweep_cursors (
  name VARCHAR(50) PRIMARY KEY,
  position UUID,
  round_started_at TIMESTAMPTZ NOT NULL,
  last_swept_at TIMESTAMPTZ NOT NULL
);
