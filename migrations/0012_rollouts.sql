-- Template upgrade rollouts (issue 15, item 4). A rollout moves the tenants of one template that
-- are on an older version to `target_version`, wave by wave; it is the run of kind `rollout`
-- whose id it shares, and each tenant's upgrade is a run of kind `upgrade`
-- (statemachines/rollout.asl.json, statemachines/upgrade.asl.json).
--
-- status: running; pausing (asked to pause: the upgrades in flight finish, no new one starts);
-- paused (its execution has ended; resume starts a new one); completed; halted (the failure
-- budget was exceeded: the rollout run failed); aborted.
CREATE TABLE template_rollouts (
  id UUID PRIMARY KEY,
  template_id UUID NOT NULL REFERENCES tenant_templates(id),
  target_version INTEGER NOT NULL,
  status VARCHAR(20) NOT NULL DEFAULT 'running',
  -- canary, waveSize, maxConcurrency, toleratedFailurePercent, pauseAfterCanary, confirmDestructive
  plan JSONB NOT NULL,
  total_waves INTEGER NOT NULL,
  current_wave INTEGER NOT NULL DEFAULT 1,
  tenant_count INTEGER NOT NULL,
  created_by UUID,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  completed_at TIMESTAMPTZ,
  CONSTRAINT template_rollouts_status CHECK (status IN ('running', 'pausing', 'paused', 'completed', 'halted', 'aborted'))
);

-- One rollout per template at a time (two racing requests: one wins, one 409).
CREATE UNIQUE INDEX template_rollouts_one_active_idx ON template_rollouts (template_id)
  WHERE status IN ('running', 'pausing', 'paused', 'halted');
CREATE INDEX template_rollouts_created_idx ON template_rollouts (created_at DESC, id DESC);

-- The plan, one row per tenant, fixed when the rollout starts (the dry run computes the same):
-- its wave, its place in the wave and the version it was on. status: pending, running, upgraded,
-- failed, skipped (not started: aborted, no longer active, or already upgraded by another way).
CREATE TABLE template_rollout_tenants (
  rollout_id UUID NOT NULL REFERENCES template_rollouts(id) ON DELETE CASCADE,
  tenant_id UUID NOT NULL,
  wave INTEGER NOT NULL,
  position INTEGER NOT NULL,
  from_version INTEGER NOT NULL,
  status VARCHAR(20) NOT NULL DEFAULT 'pending',
  upgrade_progress_id UUID,
  error TEXT,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (rollout_id, tenant_id),
  CONSTRAINT template_rollout_tenants_status CHECK (status IN ('pending', 'running', 'upgraded', 'failed', 'skipped'))
);

CREATE INDEX template_rollout_tenants_wave_idx ON template_rollout_tenants (rollout_id, wave, position);
CREATE UNIQUE INDEX template_rollout_tenants_run_idx ON template_rollout_tenants (upgrade_progress_id)
  WHERE upgrade_progress_id IS NOT NULL;

-- An upgrade, a deprovisioning and a restore of one tenant never run at the same time.
DROP INDEX progress_one_lifecycle_run_idx;
CREATE UNIQUE INDEX progress_one_lifecycle_run_idx ON tenant_provisioning_progress (tenant_id)
  WHERE kind IN ('deprovision', 'restore', 'upgrade') AND status IN ('pending', 'running');
