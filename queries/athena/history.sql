-- The history a `trailscan nightly --out OUT` job writes, as Athena (Trino/Presto) tables.
--
-- Copy OUT/history/ to S3 (`aws s3 sync OUT/history s3://my-bucket/trailscan/history`), replace the
-- LOCATIONs and the projection range, and run each statement once. Partition projection finds new dt=
-- folders by itself: no MSCK REPAIR TABLE after each night. Times are RFC 3339 UTC strings (they sort and
-- compare as text; from_iso8601_timestamp() turns them into timestamps). This file is not a trailscan
-- report: trailscan never runs it.
--
-- A session is in one file at a time: `part-N.parquet` once final, `open-N.parquet` while its credentials
-- may still be in use (the next run replaces it). Counts are Parquet unsigned integers.

CREATE EXTERNAL TABLE trailscan_sessions (
    assumed_at string,
    event_name string,
    success boolean,
    error_code string,
    source_type string,
    source_principal string,
    origin_principal string,
    role_arn string,
    session_name string,
    session_arn string,
    access_key_id string,
    parent_access_key_id string,
    chain_depth int,
    source_ip string,
    user_agent string,
    mfa boolean,
    source_identity string,
    caller_account string,
    role_account string,
    cross_account boolean,
    event_count bigint,
    distinct_actions bigint,
    error_count bigint,
    first_event_at string,
    last_event_at string,
    source_ips string,
    event_id string,
    expires_at string,
    aws_region string,
    flags string
)
PARTITIONED BY (dt string)
STORED AS PARQUET
LOCATION 's3://my-bucket/trailscan/history/sessions/'
TBLPROPERTIES (
    'projection.enabled' = 'true',
    'projection.dt.type' = 'date',
    'projection.dt.format' = 'yyyy-MM-dd',
    'projection.dt.range' = '2020-01-01,NOW',
    'storage.location.template' = 's3://my-bucket/trailscan/history/sessions/dt=${dt}/'
);

CREATE EXTERNAL TABLE trailscan_actions (
    session_event_id string,
    session_arn string,
    access_key_id string,
    role_arn string,
    event_source string,
    event_name string,
    `count` bigint,
    errors bigint,
    denied bigint,
    privileged boolean,
    first_at string,
    last_at string
)
PARTITIONED BY (dt string)
STORED AS PARQUET
LOCATION 's3://my-bucket/trailscan/history/actions/'
TBLPROPERTIES (
    'projection.enabled' = 'true',
    'projection.dt.type' = 'date',
    'projection.dt.format' = 'yyyy-MM-dd',
    'projection.dt.range' = '2020-01-01,NOW',
    'storage.location.template' = 's3://my-bucket/trailscan/history/actions/dt=${dt}/'
);

CREATE EXTERNAL TABLE trailscan_flags (
    detected_at string,
    rule string,
    severity string,
    principal string,
    role_arn string,
    session_arn string,
    access_key_id string,
    session_event_id string,
    source_ips string,
    summary string,
    event_ids string
)
PARTITIONED BY (dt string)
STORED AS PARQUET
LOCATION 's3://my-bucket/trailscan/history/flags/'
TBLPROPERTIES (
    'projection.enabled' = 'true',
    'projection.dt.type' = 'date',
    'projection.dt.format' = 'yyyy-MM-dd',
    'projection.dt.range' = '2020-01-01,NOW',
    'storage.location.template' = 's3://my-bucket/trailscan/history/flags/dt=${dt}/'
);

-- Example: who became what, last 30 days.
-- SELECT origin_principal, role_arn, count(*) AS sessions, sum(event_count) AS events
-- FROM trailscan_sessions
-- WHERE dt >= date_format(current_date - interval '30' day, '%Y-%m-%d')
-- GROUP BY 1, 2 ORDER BY 1, 2;
