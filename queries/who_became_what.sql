-- name: who_became_what
-- description: Per origin principal (the identity at the head of a chain), every role it became, directly
--   or through a chain of roles, with counts and first and last times. The same answer as the
--   who-became-what command, as SQL. Where a session has no role (GetSessionToken,
--   GetFederationToken), role_arn is the session's ARN.
-- columns: origin_principal, role_arn, via, sessions, successful, failed, max_chain_depth,
--   first_assumed_at, last_assumed_at, event_count
SELECT
    origin_principal,
    became AS role_arn,
    CASE
        WHEN MIN(chain_depth) <= 1 AND MAX(chain_depth) > 1 THEN 'direct+chain'
        WHEN MIN(chain_depth) > 1 THEN 'chain'
        ELSE 'direct'
    END AS via,
    COUNT(*) AS sessions,
    SUM(CASE WHEN success THEN 1 ELSE 0 END) AS successful,
    SUM(CASE WHEN success THEN 0 ELSE 1 END) AS failed,
    MAX(chain_depth) AS max_chain_depth,
    MIN(assumed_at) AS first_assumed_at,
    MAX(assumed_at) AS last_assumed_at,
    SUM(event_count) AS event_count
FROM (SELECT *, COALESCE(role_arn, session_arn) AS became FROM sessions)
GROUP BY origin_principal, became
ORDER BY origin_principal, role_arn
