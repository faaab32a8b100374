-- Cells (issue 18): the tenant databases. The control plane (this database: tenants, runs, users,
-- keys, audit) knows one or more cells, and each tenant's own schema (`tenant_<id>`) lives on
-- exactly one of them. `main` is this database itself, the only cell unless TENANT_CELLS names
-- more; every tenant provisioned before cells existed is on it. A cell's connection comes from the
-- configuration, not from here: this table records which cells exist and whether each takes new
-- tenants (functions/domain/cells/).
CREATE TABLE cells (
  name VARCHAR(63) PRIMARY KEY,
  accepts_tenants BOOLEAN NOT NULL DEFAULT TRUE,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO cells (name) VALUES ('main');

-- Where the tenant's schema lives; set when its row is written (placement) and never changed.
ALTER TABLE tenants ADD COLUMN cell VARCHAR(63) NOT NULL DEFAULT 'main' REFERENCES cells (name);
-- Placement counts each open cell's tenants: an index range scan per cell.
CREATE INDEX tenants_cell_idx ON tenants (cell);

-- A template may pin the tenants provisioned from it to one cell (placement then takes that cell,
-- and refuses when it is closed).
ALTER TABLE tenant_templates ADD COLUMN cell VARCHAR(63) REFERENCES cells (name);
