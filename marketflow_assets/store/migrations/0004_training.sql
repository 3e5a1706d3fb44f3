-- Snapshots, rendered training pairs, their human reviews and the exports made of them
-- (marketflow_assets.training). Keys (snapshots: snapshot_id; training_pairs: pair_id) are kept
-- by the delete-then-insert window writes and checked by asset checks.

-- One frozen analysis per (ticker, as_of, rules_hash); `payload` is the JSON document with its
-- own schema_version, the other columns are extracted from it for querying.
CREATE TABLE snapshots (
    snapshot_id VARCHAR NOT NULL,
    ticker VARCHAR NOT NULL,
    as_of DATE NOT NULL,
    schema_version INTEGER NOT NULL,
    rules_version VARCHAR NOT NULL,
    rules_hash VARCHAR NOT NULL,
    warmup BOOLEAN NOT NULL,
    signal VARCHAR NOT NULL,
    strength VARCHAR NOT NULL,
    confidence DOUBLE NOT NULL,
    market_condition VARCHAR NOT NULL,
    events VARCHAR[] NOT NULL,
    payload JSON NOT NULL
);

-- pair_id = sha256 of the system prompt, the user prompt and the response.
CREATE TABLE training_pairs (
    pair_id VARCHAR NOT NULL,
    snapshot_id VARCHAR NOT NULL,
    ticker VARCHAR NOT NULL,
    as_of DATE NOT NULL,
    conversation_type VARCHAR NOT NULL,
    template_name VARCHAR NOT NULL,
    template_hash VARCHAR NOT NULL,
    schema_version INTEGER NOT NULL,
    rules_version VARCHAR NOT NULL,
    rules_hash VARCHAR NOT NULL,
    signal VARCHAR NOT NULL,
    strength VARCHAR NOT NULL,
    confidence DOUBLE NOT NULL,
    system VARCHAR NOT NULL,
    prompt VARCHAR NOT NULL,
    response VARCHAR NOT NULL
);

-- Append-only log of review actions; the latest action of a pair is its status. Kept apart from
-- training_pairs so that re-materialising the pairs never loses a review: an unchanged pair
-- keeps its id and so its reviews.
CREATE SEQUENCE review_seq;
CREATE TABLE reviews (
    review_id BIGINT NOT NULL DEFAULT nextval('review_seq') PRIMARY KEY,
    pair_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL CHECK (status IN ('approved', 'rejected', 'edited')),
    reason VARCHAR,
    edited_response VARCHAR,
    reviewer VARCHAR NOT NULL,
    reviewed_at TIMESTAMP NOT NULL,
    CHECK ((status = 'edited') = (edited_response IS NOT NULL)),
    CHECK (status <> 'rejected' OR reason IS NOT NULL)
);

-- Every pair with its review state: pending until reviewed; the latest edit's response stays
-- with the pair when it is approved afterwards.
CREATE VIEW reviewed_pairs AS
WITH latest AS (
    SELECT
        pair_id,
        arg_max(status, review_id) AS review_status,
        arg_max(reason, review_id) AS review_reason,
        arg_max(reviewer, review_id) AS reviewer,
        max(reviewed_at) AS reviewed_at,
        arg_max(edited_response, review_id) FILTER (WHERE edited_response IS NOT NULL)
            AS edited_response
    FROM reviews
    GROUP BY pair_id
)
SELECT
    p.*,
    coalesce(l.review_status, 'pending') AS review_status,
    l.review_reason,
    l.edited_response,
    l.reviewer,
    l.reviewed_at
FROM training_pairs AS p
LEFT JOIN latest AS l USING (pair_id);

-- The last export of each name: where it is, what went in, and the manifest's sha256.
CREATE TABLE exports (
    name VARCHAR NOT NULL PRIMARY KEY,
    path VARCHAR NOT NULL,
    start_date DATE,
    end_date DATE,
    only_approved BOOLEAN NOT NULL,
    pairs INTEGER NOT NULL,
    train_rows INTEGER NOT NULL,
    validation_rows INTEGER NOT NULL,
    test_rows INTEGER NOT NULL,
    near_duplicates_dropped INTEGER NOT NULL,
    manifest_sha256 VARCHAR NOT NULL,
    exported_at TIMESTAMP NOT NULL
);
