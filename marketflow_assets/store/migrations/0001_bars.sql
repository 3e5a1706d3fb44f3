-- Raw daily bars as fetched (prices and volume unadjusted), the corporate actions that
-- adjust them as of a date, and every fetched row that failed a quality rule.
CREATE TABLE bars (
    ticker VARCHAR NOT NULL,
    date DATE NOT NULL,
    open DOUBLE NOT NULL,
    high DOUBLE NOT NULL,
    low DOUBLE NOT NULL,
    close DOUBLE NOT NULL,
    volume DOUBLE NOT NULL,
    source VARCHAR NOT NULL,
    PRIMARY KEY (ticker, date)
);

CREATE TABLE corporate_actions (
    ticker VARCHAR NOT NULL,
    date DATE NOT NULL,
    split_ratio DOUBLE,
    dividend DOUBLE,
    source VARCHAR NOT NULL,
    PRIMARY KEY (ticker, date)
);

CREATE TABLE quarantine (
    ticker VARCHAR NOT NULL,
    date DATE NOT NULL,
    open DOUBLE,
    high DOUBLE,
    low DOUBLE,
    close DOUBLE,
    volume DOUBLE,
    split_ratio DOUBLE,
    dividend DOUBLE,
    reason VARCHAR NOT NULL,
    source VARCHAR NOT NULL
);
