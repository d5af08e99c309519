-- name: console_sessions
-- description: Sessions used through the AWS Management Console: console role switches (SwitchRole), and
--   assumptions made from a browser or by the console (SAML sign-in to the console, for instance). The
--   browser part is a heuristic on the user agent: "Mozilla/..." or a console.amazonaws.com agent.
-- columns: assumed_at, how, source_principal, origin_principal, role_arn, session_arn, mfa, source_ip,
--   user_agent, event_count, error_count, last_event_at, event_id
SELECT
    assumed_at,
    CASE WHEN event_name = 'SwitchRole' THEN 'role switch' ELSE 'browser sign-in' END AS how,
    source_principal,
    origin_principal,
    role_arn,
    session_arn,
    mfa,
    source_ip,
    user_agent,
    event_count,
    error_count,
    last_event_at,
    event_id
FROM sessions
WHERE event_name = 'SwitchRole'
    OR user_agent LIKE 'Mozilla/%'
    OR user_agent LIKE '%console%.amazonaws.com%'
ORDER BY assumed_at, event_id
