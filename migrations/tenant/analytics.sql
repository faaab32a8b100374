-- Feature "analytics": daily spending metrics per school.
CREATE TABLE daily_metrics (
  day DATE NOT NULL,
  school_id UUID REFERENCES schools(id) ON DELETE CASCADE,
  metric VARCHAR(50) NOT NULL,
  value NUMERIC(18, 2) NOT NULL DEFAULT 0,
  PRIMARY KEY (day, school_id, metric)
);
