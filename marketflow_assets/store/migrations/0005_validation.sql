-- The track record of every signal and what it feeds back (marketflow_assets.validation).
-- Keys (outcomes: ticker, date; calibration: date, signal; rule_flags: date, rule_id) are kept by
-- the delete-then-insert window writes and checked by asset checks.

-- One row per signal of D once its window (D, D + 30 days] is complete in the store. Returns
-- are price returns from the entry (the next session's open), with later splits scaled back.
CREATE TABLE outcomes (
    ticker VARCHAR NOT NULL,
    date DATE NOT NULL,
    signal VARCHAR NOT NULL,
    strength VARCHAR NOT NULL,
    confidence DOUBLE NOT NULL,
    patterns VARCHAR[] NOT NULL,
    warmup BOOLEAN NOT NULL,
    direction INTEGER NOT NULL,
    window_end DATE NOT NULL,
    matured_on DATE NOT NULL,
    window_sessions INTEGER NOT NULL,
    bars INTEGER NOT NULL,
    missing_bars INTEGER NOT NULL,
    entry_date DATE,
    entry_price DOUBLE,
    ret_1 DOUBLE,
    ret_5 DOUBLE,
    ret_10 DOUBLE,
    ret_21 DOUBLE,
    ret_window DOUBLE,
    max_move DOUBLE,
    mfe DOUBLE,
    mfe_date DATE,
    mfe_session INTEGER,
    mae DOUBLE,
    mae_date DATE,
    mae_session INTEGER,
    hit BOOLEAN,
    atr DOUBLE,
    barrier VARCHAR CHECK (barrier IN ('target', 'stop', 'time')),
    barrier_date DATE,
    barrier_session INTEGER,
    barrier_return DOUBLE,
    rules_version VARCHAR NOT NULL,
    rules_hash VARCHAR NOT NULL
);

-- The confidence multiplier of each signal type at D, from outcomes matured before D.
CREATE TABLE calibration (
    date DATE NOT NULL,
    signal VARCHAR NOT NULL,
    matured INTEGER NOT NULL,
    hit_rate DOUBLE,
    mean_confidence DOUBLE,
    target DOUBLE,
    multiplier DOUBLE NOT NULL,
    rules_version VARCHAR NOT NULL,
    rules_hash VARCHAR NOT NULL
);

-- Failures of each pattern rule among its events whose outcome matured in the 30 days before D.
CREATE TABLE rule_flags (
    date DATE NOT NULL,
    rule_id VARCHAR NOT NULL,
    events INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    failure_rate DOUBLE,
    flagged BOOLEAN NOT NULL,
    rules_version VARCHAR NOT NULL,
    rules_hash VARCHAR NOT NULL
);

-- How each kind of signal has fared over every matured outcome of the current rules: one row
-- per signal type x strength x pattern x period ("all" where not split). Returns are signed by
-- the signal (BUY r, SELL -r, HOLD -|r|); excess is over the same period's base. Rebuilt whole.
CREATE TABLE scorecard (
    signal VARCHAR NOT NULL,
    strength VARCHAR NOT NULL,
    pattern VARCHAR NOT NULL,
    period VARCHAR NOT NULL,
    signals INTEGER NOT NULL,
    matured INTEGER NOT NULL,
    hits INTEGER NOT NULL,
    hit_rate DOUBLE,
    hit_low DOUBLE,
    hit_high DOUBLE,
    base_rate DOUBLE,
    mean_ret_1 DOUBLE,
    median_ret_1 DOUBLE,
    excess_ret_1 DOUBLE,
    mean_ret_5 DOUBLE,
    median_ret_5 DOUBLE,
    excess_ret_5 DOUBLE,
    mean_ret_10 DOUBLE,
    median_ret_10 DOUBLE,
    excess_ret_10 DOUBLE,
    mean_ret_21 DOUBLE,
    median_ret_21 DOUBLE,
    excess_ret_21 DOUBLE,
    mean_ret_window DOUBLE,
    median_ret_window DOUBLE,
    excess_ret_window DOUBLE,
    mfe_mean DOUBLE,
    mae_mean DOUBLE,
    target_rate DOUBLE,
    stop_rate DOUBLE,
    time_rate DOUBLE,
    profit_factor DOUBLE,
    brier DOUBLE,
    rank_corr DOUBLE,
    reliability STRUCT(
        bin INTEGER,
        lower DOUBLE,
        upper DOUBLE,
        count INTEGER,
        mean_confidence DOUBLE,
        hit_rate DOUBLE
    )[] NOT NULL,
    ready BOOLEAN NOT NULL,
    PRIMARY KEY (signal, strength, pattern, period)
);

-- Snapshots from schema version 3 carry the confidence calibrated with the calibration of D.
ALTER TABLE snapshots ADD COLUMN calibrated_confidence DOUBLE;
