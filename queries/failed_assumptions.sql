-- name: failed_assumptions
-- description: Every assumption attempt that did not issue credentials (AccessDenied and the like): who
--   tried which role, from where, and when. A burst of these is how role enumeration looks. A denied
--   cross-account attempt is logged only in the caller's account.
-- columns: assumed_at, event_name, error_code, source_type, source_principal, origin_principal, role_arn,
--   source_ip, user_agent, aws_region, event_id
SELECT
    assumed_at,
    event_name,
    error_code,
    source_type,
    source_principal,
    origin_principal,
    role_arn,
    source_ip,
    user_agent,
    aws_region,
    event_id
FROM sessions
WHERE NOT success
ORDER BY assumed_at, event_id
