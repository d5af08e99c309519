-- name: external_access
-- description: Assumptions by identities from outside: SAML and OIDC (web identity) federation, and callers
--   in an account that owns none of the roles assumed in the input (an account whose trail you did not
--   read: a partner, a vendor, or an attacker's). One row per assumption attempt, failed ones included.
-- columns: assumed_at, reason, source_type, source_principal, caller_account, role_arn, role_account,
--   success, error_code, source_ip, event_count, event_id
SELECT
    assumed_at,
    CASE
        WHEN source_type IN ('SAMLUser', 'WebIdentityUser') THEN 'federated identity'
        ELSE 'outside account'
    END AS reason,
    source_type,
    source_principal,
    caller_account,
    role_arn,
    role_account,
    success,
    error_code,
    source_ip,
    event_count,
    event_id
FROM sessions
WHERE source_type IN ('SAMLUser', 'WebIdentityUser')
    OR (
        caller_account IS NOT NULL
        AND caller_account NOT IN (SELECT role_account FROM sessions WHERE role_account IS NOT NULL)
    )
ORDER BY assumed_at, event_id
