-- Lifecycle events (issue 16): the outbox, webhook subscriptions, their deliveries and every
-- delivery attempt.

-- Every lifecycle event, written in the same transaction as the change that causes it, so an event
-- is never lost and never exists for a change that rolled back. `dedupe_key` names the change
-- (`<type>:<run>:<attempt>`, `<type>:<schedule>`, …): a retried step or a re-run writes it once
-- (`ON CONFLICT DO NOTHING`). `body` is the exact JSON every delivery sends and signs, serialised
-- once. In AWS the publisher puts unpublished rows on the EventBridge bus; locally the worker logs
-- them. `webhook_id` set: a test event meant for that one subscription, never published.
CREATE TABLE event_outbox (
  id UUID PRIMARY KEY,
  type VARCHAR(100) NOT NULL,
  version INTEGER NOT NULL,
  tenant_id UUID,
  run_id UUID,
  occurred_at TIMESTAMPTZ NOT NULL,
  body TEXT NOT NULL,
  dedupe_key VARCHAR(255) NOT NULL UNIQUE,
  webhook_id UUID,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  published_at TIMESTAMPTZ,
  publish_attempts INTEGER NOT NULL DEFAULT 0,
  publish_error TEXT,
  -- Events stay thin: far below EventBridge's 256 KB an entry and the Data API's 64 KB a row.
  CONSTRAINT event_outbox_body_size CHECK (octet_length(body) <= 16384)
);
-- What the publisher drains, oldest first (test events are never published).
CREATE INDEX event_outbox_unpublished_idx ON event_outbox (created_at)
  WHERE published_at IS NULL AND webhook_id IS NULL;

-- Webhook subscriptions. The signing secret is stored sealed (AES-256-GCM under the data
-- directory's key locally, KMS in AWS), bound to the subscription's id, and returned to the
-- operator only when created or rotated. After a rotation the previous secret signs too until
-- `previous_secret_expires_at`. A subscription that keeps failing, or answers 410 Gone, is
-- disabled (with an alert); enabling it again resets its failure streak.
CREATE TABLE webhooks (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  url TEXT NOT NULL,
  event_types JSONB NOT NULL,
  description VARCHAR(255),
  status VARCHAR(20) NOT NULL DEFAULT 'active',
  secret_sealed TEXT NOT NULL,
  previous_secret_sealed TEXT,
  previous_secret_expires_at TIMESTAMPTZ,
  consecutive_failures INTEGER NOT NULL DEFAULT 0,
  failing_since TIMESTAMPTZ,
  last_success_at TIMESTAMPTZ,
  disabled_at TIMESTAMPTZ,
  disabled_reason TEXT,
  created_by UUID,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT webhooks_status CHECK (status IN ('active', 'disabled')),
  CONSTRAINT webhooks_event_types CHECK (jsonb_typeof(event_types) = 'array')
);

-- One delivery per subscription and event, created in the event's own transaction for every
-- active subscription that wants its type. `next_attempt_at` is when it is due; while an attempt
-- is in flight it is pushed to the end of a lease, so a sender that dies mid-attempt leaves the
-- delivery due again once the lease is over (at least once). Retries stop (status failed) once
-- `window_started_at` is older than the retry window; a redelivery starts a new window.
CREATE TABLE webhook_deliveries (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  webhook_id UUID NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  event_id UUID NOT NULL REFERENCES event_outbox (id) ON DELETE CASCADE,
  event_type VARCHAR(100) NOT NULL,
  status VARCHAR(20) NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TIMESTAMPTZ,
  window_started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  last_attempt_at TIMESTAMPTZ,
  last_response_status INTEGER,
  last_error TEXT,
  delivered_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT webhook_deliveries_status CHECK (status IN ('pending', 'succeeded', 'failed')),
  CONSTRAINT webhook_deliveries_once UNIQUE (webhook_id, event_id)
);
-- The sender's queue: pending deliveries by due time.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
-- A subscription's deliveries, newest first.
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);

-- Every attempt: written as `sending` when the sender takes the delivery, completed with its
-- outcome, response status, latency and error; one the sender never finished (it stopped) is
-- marked `interrupted` when the delivery is taken again.
CREATE TABLE webhook_delivery_attempts (
  id UUID PRIMARY KEY,
  delivery_id UUID NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  attempt INTEGER NOT NULL,
  attempted_at TIMESTAMPTZ NOT NULL,
  outcome VARCHAR(20) NOT NULL DEFAULT 'sending',
  response_status INTEGER,
  latency_ms INTEGER,
  error TEXT,
  CONSTRAINT webhook_delivery_attempts_outcome
    CHECK (outcome IN ('sending', 'succeeded', 'failed', 'interrupted')),
  CONSTRAINT webhook_delivery_attempts_once UNIQUE (delivery_id, attempt)
);
