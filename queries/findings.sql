-- name: findings
-- description: Every finding of the detections, most severe first, then by time: the rule, the session and
--   principal, one line of explanation, and the event ids that prove it.
-- columns: severity, rule, detected_at, principal, role_arn, session_arn, access_key_id, source_ips, summary,
--   event_ids, session_event_id
SELECT
    severity,
    rule,
    detected_at,
    principal,
    role_arn,
    session_arn,
    access_key_id,
    source_ips,
    summary,
    event_ids,
    session_event_id
FROM flags
ORDER BY
    CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END,
    detected_at, rule, session_event_id, summary
