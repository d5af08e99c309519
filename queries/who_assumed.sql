-- name: who_assumed
-- description: Who assumed each role: one row per role and the principal that assumed it, with how many
--   sessions, how many attempts failed, whether MFA was used, and when first and last. Sessions inferred
--   from calls whose assumption is not in the input appear with source_principal "unknown".
--   Narrow it with --role, --principal or --account.
-- columns: role_arn, source_principal, origin_principal, sessions, successful, failed, with_mfa,
--   first_assumed_at, last_assumed_at, event_count
SELECT
    role_arn,
    source_principal,
    origin_principal,
    COUNT(*) AS sessions,
    SUM(CASE WHEN success THEN 1 ELSE 0 END) AS successful,
    SUM(CASE WHEN success THEN 0 ELSE 1 END) AS failed,
    SUM(CASE WHEN mfa THEN 1 ELSE 0 END) AS with_mfa,
    MIN(assumed_at) AS first_assumed_at,
    MAX(assumed_at) AS last_assumed_at,
    SUM(event_count) AS event_count
FROM sessions
WHERE role_arn IS NOT NULL
GROUP BY role_arn, source_principal, origin_principal
ORDER BY role_arn, source_principal, origin_principal
