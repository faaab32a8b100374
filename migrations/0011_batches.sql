-- Bulk provisioning (issue 15 item 1): a batch is a run of kind `batch` whose state machine starts
-- one ordinary provisioning run per item. The children are written with the batch (tenant rows
-- hold their slugs and subdomains from the start) and point at it; the batch's own record stays
-- small whatever its size — its counts are read from its children.
--
-- `parent_id`: the batch a child belongs to. `batch_index`: the item's position in the request.
-- `batch_attempt`: the batch attempt that last started or resumed the child (NULL: not started
-- yet). A batch attempt counts only its own children's failures against the failure budget, and
-- a child is started at most once per batch attempt however often the iteration runs.
-- Retention may remove a batch's record before a child's (a child retried later is newer): the
-- child then stays, no longer linked.
ALTER TABLE tenant_provisioning_progress ADD COLUMN parent_id UUID REFERENCES tenant_provisioning_progress(id) ON DELETE SET NULL;
ALTER TABLE tenant_provisioning_progress ADD COLUMN batch_index INTEGER;
ALTER TABLE tenant_provisioning_progress ADD COLUMN batch_attempt INTEGER;
CREATE INDEX progress_parent_idx ON tenant_provisioning_progress (parent_id, batch_index) WHERE parent_id IS NOT NULL;
