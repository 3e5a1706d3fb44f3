-- Which sessions each partitioned asset has written: a session with no rows (the market was
-- open but the source had no bars) is still a written session. Asset runs check their lookback
-- and forward windows against this ledger, in the store itself.
CREATE TABLE materialized_sessions (
    asset VARCHAR NOT NULL,
    date DATE NOT NULL,
    PRIMARY KEY (asset, date)
);

-- Stores written before the ledger existed: every session that has bars was ingested.
INSERT INTO materialized_sessions SELECT DISTINCT 'daily_bars', date FROM bars;
