-- name: privileged_sessions
-- description: Sessions that made calls which grant access or blind logging (IAM user, key, policy and
--   trust changes, CloudTrail StopLogging, DeleteTrail and the like: the actions table's privileged
--   column), failed attempts included, with who was behind them and which calls they were.
-- columns: assumed_at, origin_principal, source_principal, role_arn, session_arn, access_key_id, mfa,
--   privileged_calls, privileged_errors, privileged_actions, first_privileged_at, last_privileged_at,
--   event_id
SELECT
    s.assumed_at,
    s.origin_principal,
    s.source_principal,
    s.role_arn,
    s.session_arn,
    s.access_key_id,
    s.mfa,
    p.privileged_calls,
    p.privileged_errors,
    p.privileged_actions,
    p.first_privileged_at,
    p.last_privileged_at,
    s.event_id
FROM sessions AS s
INNER JOIN (
    SELECT
        session_event_id,
        SUM("count") AS privileged_calls,
        SUM(errors) AS privileged_errors,
        STRING_AGG(event_name, ';' ORDER BY event_name) AS privileged_actions,
        MIN(first_at) AS first_privileged_at,
        MAX(last_at) AS last_privileged_at
    FROM actions
    WHERE privileged
    GROUP BY session_event_id
) AS p ON p.session_event_id = s.event_id
ORDER BY p.first_privileged_at, s.event_id
