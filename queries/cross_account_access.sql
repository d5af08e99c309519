-- name: cross_account_access
-- description: Roles assumed from another account: one row per role and calling principal where the
--   caller's account is not the role's account, with attempts, failures, first and last times and the
--   calls made. A cross-account assumption logged in both accounts counts once.
-- columns: role_account, caller_account, role_arn, source_principal, sessions, successful, failed,
--   first_assumed_at, last_assumed_at, event_count
SELECT
    role_account,
    caller_account,
    role_arn,
    source_principal,
    COUNT(*) AS sessions,
    SUM(CASE WHEN success THEN 1 ELSE 0 END) AS successful,
    SUM(CASE WHEN success THEN 0 ELSE 1 END) AS failed,
    MIN(assumed_at) AS first_assumed_at,
    MAX(assumed_at) AS last_assumed_at,
    SUM(event_count) AS event_count
FROM sessions
WHERE cross_account
GROUP BY role_account, caller_account, role_arn, source_principal
ORDER BY role_account, caller_account, role_arn, source_principal
