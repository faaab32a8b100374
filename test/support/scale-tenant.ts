/**
 * A realistic-scale tenant (issue 13): a Municipality tenant grown, with set-based SQL
 * (generate_series, one statement per call, so it runs through every driver), to many users,
 * schools and products with long multibyte texts, and years of history — orders, deliveries,
 * inventory and stock movements, daily metrics, audit logs. The integration tests use a small
 * size with a small backup budget (many pages and loop iterations from little data); the
 * benchmark (bench/backup.ts) grows it to tens or hundreds of MB.
 */

export interface ScaleSize {
  readonly users: number;
  readonly schools: number;
  readonly products: number;
  readonly orders: number;
  /** Inventory items per school (each a product of the catalogue). */
  readonly itemsPerSchool: number;
  readonly stockMovements: number;
  /** Days of daily metrics, per school (two metrics a day). */
  readonly metricDays: number;
  readonly auditLogs: number;
  /** Characters of multibyte text in each school's address and audit log's details. */
  readonly textChars: number;
}

/** Small enough for a test on every driver, large enough for many pages at a small `BACKUP_PAGE_BYTES`. */
export const TEST_SCALE: ScaleSize = {
  users: 150,
  schools: 20,
  products: 200,
  orders: 300,
  itemsPerSchool: 10,
  stockMovements: 400,
  metricDays: 15,
  auditLogs: 200,
  textChars: 300,
};

/**
 * A size of roughly `mb` MB of row data (measured: ~11 MB at 10, ~100 B per history row): the
 * catalogue grows to the Municipality template's limits (2,000 users, 200 schools, 5,000
 * products), the history linearly.
 */
export function scaleOfMegabytes(mb: number): ScaleSize {
  const f = Math.max(0.1, mb / 10);
  const schools = Math.min(200, Math.round(50 * f));
  return {
    users: Math.min(2000, Math.round(200 * f)),
    schools,
    products: Math.min(5000, Math.round(1000 * f)),
    orders: Math.round(15_000 * f),
    itemsPerSchool: 20,
    stockMovements: Math.round(30_000 * f),
    // Two metrics a day per school: about 20,000 rows per 10 MB.
    metricDays: Math.max(1, Math.round((10_000 * f) / schools)),
    auditLogs: Math.round(3000 * f),
    textChars: 500,
  };
}

/** Multibyte text of about `chars` characters (Finnish, Swedish, CJK, an emoji), varying with `seed` (SQL). */
function longText(chars: number, seed: string): string {
  const unit = "Kävelykatu 5 Å ö ñ 中文字 😀 ";
  const repeats = Math.max(1, Math.ceil(chars / unit.length));
  return `left(${seed}::text || ' ' || repeat('${unit}', ${repeats}), ${chars})`;
}

/**
 * The statements that grow tenant `tenantId` (its schema made by the Municipality template's
 * migrations) to `size`. Each is one SQL statement; run them in order.
 */
export function growTenantStatements(tenantId: string, size: ScaleSize): string[] {
  if (!/^[0-9a-f-]{36}$/.test(tenantId)) throw new Error(`not a tenant id: ${tenantId}`);
  const s = `"tenant_${tenantId.replace(/-/g, "")}"`;
  const t = `'${tenantId}'::uuid`;
  return [
    `INSERT INTO users (tenant_id, email, name, role, status, created_at, updated_at)
     SELECT ${t}, 'scale-user-' || i || '@example.org', 'Käyttäjä ' || i || ' Ääkkönen 😀', 
            CASE WHEN i % 10 = 0 THEN 'approver' ELSE 'buyer' END, 'active',
            timestamptz '2020-01-01' + i * interval '1 hour', timestamptz '2020-01-01' + i * interval '1 hour'
     FROM generate_series(1, ${size.users}) i`,
    `INSERT INTO ${s}.schools (name, code, type, address, created_at)
     SELECT 'Koulu ' || i || ' – Skola ' || i, 'SCALE-' || i, CASE WHEN i % 3 = 0 THEN 'secondary' ELSE 'primary' END,
            ${longText(size.textChars, "i")}, timestamptz '2019-08-01' + i * interval '1 day'
     FROM generate_series(1, ${size.schools}) i`,
    `INSERT INTO ${s}.products (sku, name, category, unit, unit_price, created_at)
     SELECT 'SCALE-' || i, 'Käsityöpaperi ' || i || ' – 中文 ' || repeat('ä', i % 50), 'Luokka ' || (i % 40),
            CASE WHEN i % 4 = 0 THEN 'box' ELSE 'pcs' END, (i % 500) + 0.25, timestamptz '2019-08-01' + i * interval '1 minute'
     FROM generate_series(1, ${size.products}) i`,
    `INSERT INTO ${s}.orders (school_id, status, total, created_at)
     SELECT a.ids[1 + i % cardinality(a.ids)],
            (ARRAY['draft','submitted','approved','delivered'])[1 + i % 4], (i % 9973) + 0.5,
            timestamptz '2020-01-01' + i * interval '37 minutes'
     FROM generate_series(1, ${size.orders}) i,
          (SELECT array_agg(id ORDER BY code) AS ids FROM ${s}.schools) a`,
    `INSERT INTO ${s}.deliveries (order_id, school_id, status, scheduled_for, delivered_at)
     SELECT o.id, o.school_id, CASE WHEN o.status = 'delivered' THEN 'delivered' ELSE 'scheduled' END,
            (o.created_at + interval '3 days')::date,
            CASE WHEN o.status = 'delivered' THEN o.created_at + interval '4 days' END
     FROM ${s}.orders o`,
    `INSERT INTO ${s}.inventory_items (school_id, product_id, quantity, reorder_level)
     SELECT sc.id, p.id, (length(sc.code) * 31 + length(p.sku) * 17) % 500, 10
     FROM ${s}.schools sc
     CROSS JOIN LATERAL (SELECT id, sku FROM ${s}.products ORDER BY sku LIMIT ${size.itemsPerSchool}) p`,
    `INSERT INTO ${s}.stock_movements (inventory_item_id, delta, reason, created_at)
     SELECT a.ids[1 + i % cardinality(a.ids)],
            (i % 41) - 20, (ARRAY['delivery','use','correction','löytö'])[1 + i % 4],
            timestamptz '2020-01-01' + i * interval '11 minutes'
     FROM generate_series(1, ${size.stockMovements}) i,
          (SELECT array_agg(id ORDER BY id) AS ids FROM ${s}.inventory_items) a`,
    `INSERT INTO ${s}.daily_metrics (day, school_id, metric, value)
     SELECT date '2021-01-01' + d, sc.id, m, ((d * 7 + length(sc.code)) % 1000) + 0.01
     FROM generate_series(0, ${size.metricDays - 1}) d
     CROSS JOIN ${s}.schools sc
     CROSS JOIN (VALUES ('orders'), ('spend')) AS x(m)`,
    `INSERT INTO audit_logs (action, target_type, target_id, tenant_id, details, request_id, created_at)
     SELECT 'scale.history', 'order', i::text, ${t},
            jsonb_build_object('note', ${longText(size.textChars, "i")}, 'n', i, 'tags', jsonb_build_array('å', 'ö', '😀')),
            'req-' || i, timestamptz '2020-01-01' + i * interval '5 minutes'
     FROM generate_series(1, ${size.auditLogs}) i`,
  ];
}

/**
 * One line per table of the tenant's schema and of its control-plane rows (users, the fixture's
 * audit logs): its row count and the md5 of its rows' record texts in order — equal lines, equal
 * data (PostgreSQL's record text tells SQL NULL from jsonb `null` and `''`).
 */
export function snapshotStatements(tenantId: string, tables: readonly string[]): Record<string, string> {
  const s = `"tenant_${tenantId.replace(/-/g, "")}"`;
  const digest = (from: string) =>
    `SELECT count(*)::text || ' ' || coalesce(md5(string_agg(r, E'\\n' ORDER BY r)), '-') AS d
     FROM (SELECT t::text AS r FROM ${from}) x`;
  const out: Record<string, string> = {};
  for (const table of tables) out[table] = digest(`${s}."${table.replace(/"/g, '""')}" t`);
  out["(users)"] = digest(`users t WHERE t.tenant_id = '${tenantId}'::uuid`);
  out["(audit_logs)"] = digest(
    `audit_logs t WHERE t.tenant_id = '${tenantId}'::uuid AND t.action = 'scale.history'`,
  );
  return out;
}
