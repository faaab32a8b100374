-- Large inputs and saved states of a run, kept out of its progress row (issue 13). The RDS Data
-- API refuses a result row over 64 KB, and the progress row is read by every step, by
-- GET /progress and by RecordFailure: a custom template spec, initial-data overrides or one saved
-- status per user would make it unreadable. They live here, read only by the steps that need them.

-- A provisioning run's inline template spec (custom provisioning) and initial-data overrides.
-- Personal data (initial users): removed with the tenant's data.
CREATE TABLE run_inputs (
  progress_id UUID PRIMARY KEY REFERENCES tenant_provisioning_progress(id) ON DELETE CASCADE,
  custom_template JSONB,
  initial_data_overrides JSONB,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The users a deprovisioning run's DisableAccess disabled, with the status each had, so that
-- cancelling during the grace period puts back exactly that.
CREATE TABLE deprovision_disabled_users (
  progress_id UUID NOT NULL REFERENCES tenant_provisioning_progress(id) ON DELETE CASCADE,
  user_id UUID NOT NULL,
  previous_status VARCHAR(20) NOT NULL,
  PRIMARY KEY (progress_id, user_id)
);

-- The users a deprovisioning run's NotifyUsers has notified: it pages through the tenant's users
-- and sends in batches outside any long transaction, recording each batch once it went, so a
-- retried attempt notifies only the users not recorded yet.
CREATE TABLE deprovision_notified_users (
  progress_id UUID NOT NULL REFERENCES tenant_provisioning_progress(id) ON DELETE CASCADE,
  user_id UUID NOT NULL,
  notified_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (progress_id, user_id)
);
