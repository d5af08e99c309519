-- name: daily_summary
-- description: Per UTC day of assumption: sessions, failed attempts, distinct principals and roles,
--   cross-account and chained sessions, the calls made with that day's sessions (counted on the day the
--   session began, even if a call came later), and the findings detected that day. Days with findings
--   but no sessions are not shown; the flags table has them.
-- columns: day, sessions, successful, failed, principals, roles, cross_account, chained, calls,
--   call_errors, findings
SELECT
    d.day,
    d.sessions,
    d.successful,
    d.failed,
    d.principals,
    d.roles,
    d.cross_account,
    d.chained,
    d.calls,
    d.call_errors,
    COALESCE(f.findings, 0) AS findings
FROM (
    SELECT
        LEFT(assumed_at, 10) AS day,
        COUNT(*) AS sessions,
        SUM(CASE WHEN success THEN 1 ELSE 0 END) AS successful,
        SUM(CASE WHEN success THEN 0 ELSE 1 END) AS failed,
        COUNT(DISTINCT origin_principal) AS principals,
        COUNT(DISTINCT role_arn) AS roles,
        SUM(CASE WHEN cross_account THEN 1 ELSE 0 END) AS cross_account,
        SUM(CASE WHEN chain_depth > 1 THEN 1 ELSE 0 END) AS chained,
        SUM(event_count) AS calls,
        SUM(error_count) AS call_errors
    FROM sessions
    GROUP BY LEFT(assumed_at, 10)
) AS d
LEFT JOIN (
    SELECT LEFT(detected_at, 10) AS day, COUNT(*) AS findings
    FROM flags
    GROUP BY LEFT(detected_at, 10)
) AS f ON f.day = d.day
ORDER BY d.day
