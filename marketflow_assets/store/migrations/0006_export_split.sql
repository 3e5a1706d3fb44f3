-- How an export was split: `time` (train/validation/test with purge gaps) or `none` (one train
-- split, when asked for or when its as-of dates span too few sessions), and why.
ALTER TABLE exports ADD COLUMN split_mode VARCHAR NOT NULL DEFAULT 'time';
ALTER TABLE exports ADD COLUMN split_note VARCHAR;
