-- load_obd.sql: the tables of the Open Bandit Dataset example (docs/obd.md).
--
-- Run by load_obd.sh, which streams this file, then each CSV's first six
-- columns into obd_staging (psql \copy ... FROM stdin), then moves them into
-- obd_log with their policy and campaign, all in one transaction.  Re-running
-- the loader drops and recreates obd_log, so it is idempotent.
--
-- Only the columns the example needs are kept: the user features and the
-- user-item affinities (34 or 46 columns, one per item) are cut off before
-- they reach the database.

DROP TABLE IF EXISTS obd_log;

CREATE TABLE obd_log (
    policy      text        NOT NULL CHECK (policy IN ('random', 'bts')),
    campaign    text        NOT NULL CHECK (campaign IN ('men', 'women')),
    row_id      integer     NOT NULL,   -- the CSV's unnamed index, 0-based
    ts          timestamptz NOT NULL,
    item_id     integer     NOT NULL CHECK (item_id >= 0),
    position    integer     NOT NULL CHECK (position BETWEEN 1 AND 3),
    click       integer     NOT NULL CHECK (click IN (0, 1)),
    propensity  float8      NOT NULL CHECK (propensity > 0 AND propensity <= 1),
    PRIMARY KEY (policy, campaign, row_id)
);

COMMENT ON TABLE obd_log IS
    'Open Bandit Dataset (Saito et al., arXiv:2008.07146, Apache-2.0), small sample: one row per impression';
COMMENT ON COLUMN obd_log.propensity IS
    'probability that the logging policy showed item_id at this position (the CSV''s propensity_score)';

-- The CSV's first six columns, as they come.  Temporary: gone at the end of
-- the loader's session.
CREATE TEMPORARY TABLE obd_staging (
    row_id      integer,
    ts          timestamptz,
    item_id     integer,
    position    integer,
    click       integer,
    propensity  float8
);
