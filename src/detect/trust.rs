//! Who assumed what: rules over the assumption itself (its chain's are in `chains`). Each looks only at
//! successful assumptions (a denied one issued nothing; denials are `role-enumeration`'s business) and
//! never at inferred sessions, whose assumption is not in the input.

use super::{
    origin, push_id, role_key, session_finding, short_role, Baseline, Finding, Input, Origin, FEDERATION_TOKEN_BY_USER,
    FIRST_SEEN_ASSUMPTION, IMPLICIT_SELF_TRUST, SENSITIVE_ROLE_WITHOUT_MFA, SERVICE_ROLE_USED_BY_HUMAN,
    UNTRUSTED_EXTERNAL_ACCOUNT,
};
use crate::correlate::{Session, Sessions};
use crate::timefmt::format_rfc3339;
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A successful assumption read in the input (not an inferred session).
pub(super) fn assumed(s: &Session) -> bool {
    s.assumption.success() && !s.inferred
}

/// `untrusted-external-account`: a role assumed from an account that is neither one whose logs were read
/// (the organisation) nor in `trusted_accounts`. Only cross-account assumptions are judged, so input
/// without `recipientAccountId` cannot make every assumption look foreign.
pub(super) fn untrusted_external_account(input: &Input) -> Vec<Finding> {
    let trusted = &input.settings.trusted_accounts;
    let mut out = Vec::new();
    for (i, s) in input.all.iter().enumerate() {
        if !assumed(s) || s.assumption.caller.is("AWSService") || !s.cross_account() {
            continue;
        }
        let Some(account) = s.caller_account() else { continue };
        if input.sessions.reads_logs_of(account) || trusted.contains(account) {
            continue;
        }
        let summary = format!(
            "account {account} assumed {} in account {} as {}; it is not one of the {} account(s) whose logs were \
             read, nor in trusted_accounts",
            short_role(s.assumption.role_arn.as_deref()),
            s.role_account().unwrap_or("?"),
            s.source_principal,
            input.sessions.accounts.len()
        );
        let mut f = session_finding(input, UNTRUSTED_EXTERNAL_ACCOUNT, i, s.assumption.at, summary);
        f.source_ips.extend(s.source_ip().filter(|ip| crate::net::parse_ip(ip).is_some()).map(str::to_owned));
        out.push(f);
    }
    out
}

/// Who `first-seen-assumption` says assumed a role: the service for AWS services (never the per-session
/// names they choose: instance ids, task ids, `awslambda_…`), the calling role for a chained hop (never the
/// per-session ARN), and the origin principal otherwise.
fn assumer<'a>(input: &Input<'a>, i: usize) -> Option<Cow<'a, str>> {
    let s = &input.all[i];
    let c = &s.assumption.caller;
    match c.kind.as_deref() {
        Some("AWSService") => c.invoked_by.as_deref().map(Cow::Borrowed),
        Some("AssumedRole") => c
            .issuer_arn
            .as_deref()
            .or_else(|| s.parent.and_then(|p| input.all[p].assumption.role_arn.as_deref()))
            .or(c.arn.as_deref())
            .map(role_key),
        _ => Some(Cow::Borrowed(&s.origin_principal)),
    }
}

/// `first-seen-assumption`: an (assumer, role) pair not in the baseline. The baseline is the one given (the
/// nightly job's) plus, with `--baseline-until`, every pair assumed before that time; with neither, the rule
/// is silent, since on an empty baseline every pair is new. Each new pair fires once, on its first assumption.
pub(super) fn first_seen_assumption(input: &Input, prior: Option<&Baseline>) -> (Vec<Finding>, Baseline) {
    let until = input.settings.baseline_until;
    let judge = prior.is_some() || until.is_some();
    let mut baseline = prior.cloned().unwrap_or_default();
    let trained = baseline.pairs.len();
    // Each session's (assumer, role) pair, worked out side by side; which session is the first to show a
    // pair is then decided in session order.
    let mut pairs: Vec<Option<(Cow<str>, Cow<str>)>> = input
        .all
        .par_iter()
        .enumerate()
        .map(|(i, s)| match (assumed(s), s.assumption.role_arn.as_deref(), assumer(input, i)) {
            (true, Some(role), Some(who)) => Some((who, role_key(role))),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    let mut first_showing = Vec::new();
    let mut seen: hashbrown::HashSet<(&str, &str)> = baseline.pairs.iter().map(|(w, r)| (&**w, &**r)).collect();
    for (i, pair) in pairs.iter().enumerate() {
        let Some((who, role)) = pair else { continue };
        if !seen.insert((who, role)) {
            continue;
        }
        let s = &input.all[i];
        if prior.is_some_and(|b| undecided(input, b, s)) {
            continue;
        }
        let training = until.is_some_and(|u| s.assumption.at < u);
        if judge && !training {
            let since = match until {
                Some(u) => format!("before {}", format_rfc3339(u)),
                None => format!("in the {trained} pair(s) of the baseline"),
            };
            let summary = format!(
                "{who} assumed {} for the first time (not seen {since})",
                short_role(s.assumption.role_arn.as_deref())
            );
            out.push(session_finding(input, FIRST_SEEN_ASSUMPTION, i, s.assumption.at, summary));
        }
        first_showing.push(i);
    }
    drop(seen);
    baseline.pairs.extend(
        first_showing.into_iter().filter_map(|i| pairs[i].take()).map(|(w, r)| (w.into_owned(), r.into_owned())),
    );
    (out, baseline)
}

/// Whether `first-seen-assumption` leaves the pair `s` shows for a later run (see [`Baseline::horizon`]).
fn undecided(input: &Input, b: &Baseline, s: &Session) -> bool {
    b.horizon.is_some_and(|h| !s.is_final(h))
        && (b.pass_follows || awaits_callers_copy(input, s) || awaits_earlier_hop(input.sessions, s))
}

/// Whether `s` is a chained hop whose earlier hop is not read yet: its caller is a role session of an account
/// whose logs are read, and no assumption read issued that session. The finding names the chain's origin,
/// which that hop brings, as one run over everything would.
pub fn awaits_earlier_hop(sessions: &Sessions, s: &Session) -> bool {
    s.assumption.caller.is("AssumedRole")
        && s.parent.is_none_or(|p| sessions.sessions[p].inferred)
        && s.caller_account().is_some_and(|a| sessions.reads_logs_of(a))
}

/// Whether `s` is known only from the role owner's copy of a cross-account assumption made from an account of
/// the organisation: the caller's own copy, which names the caller, is in a trail that is read.
fn awaits_callers_copy(input: &Input, s: &Session) -> bool {
    s.assumption.caller.is("AWSAccount")
        && s.cross_account()
        && s.caller_account().is_some_and(|a| input.sessions.reads_logs_of(a))
}

/// `sensitive-role-without-mfa`: a role matching `sensitive_roles` assumed without MFA by a chain that an
/// IAM user or root started (directly or by console switch). SAML and Identity Center sign-ins are left out:
/// the identity provider checks MFA and CloudTrail never shows it. So is the role owner's copy of a
/// cross-account assumption when the caller's copy was not read: it does not show the caller's MFA.
pub(super) fn sensitive_role_without_mfa(input: &Input) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, s) in input.all.iter().enumerate() {
        let Some(role) = s.assumption.role_arn.as_deref() else { continue };
        if !assumed(s) || s.assumption.mfa || origin(input.all, i) != Origin::User {
            continue;
        }
        if s.assumption.caller.is("AWSAccount") && s.switch.is_none() {
            continue;
        }
        if !input.settings.sensitive_roles.iter().any(|p| p.matches_role(role)) {
            continue;
        }
        let summary = format!(
            "{} assumed sensitive role {} without MFA{}",
            s.source_principal,
            short_role(Some(role)),
            if s.chain_depth > 1 {
                format!(" (chain of {} hops from {})", s.chain_depth, s.origin_principal)
            } else {
                String::new()
            }
        );
        let mut f = session_finding(input, SENSITIVE_ROLE_WITHOUT_MFA, i, s.assumption.at, summary);
        f.source_ips.extend(s.source_ip().filter(|ip| crate::net::parse_ip(ip).is_some()).map(str::to_owned));
        out.push(f);
    }
    out
}

/// Whether a role's path says AWS services own it: service-linked roles (`/aws-service-role/`) and the
/// roles the console creates for services (`/service-role/`).
pub(super) fn service_path(role_arn: &str) -> bool {
    role_arn.contains(":role/aws-service-role/") || role_arn.contains(":role/service-role/")
}

/// `implicit-self-trust`: a role assumed itself although its trust policy does not allow it, through the
/// implicit self-trust AWS ended in September 2022 for all but the roles that had used it
/// (`explicitTrustGrant: false`). What the trust policy was written to stop, it does not stop here: a
/// session can renew itself past its end, or take another session name.
pub(super) fn implicit_self_trust(input: &Input) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, s) in input.all.iter().enumerate() {
        if !assumed(s) || !s.assumption.implicit_trust {
            continue;
        }
        let summary = format!(
            "{} assumed itself through the legacy implicit self-trust, not its trust policy (explicitTrustGrant \
             false): grant it in the trust policy, or stop the self-assumption",
            short_role(s.assumption.role_arn.as_deref())
        );
        out.push(session_finding(input, IMPLICIT_SELF_TRUST, i, s.assumption.at, summary));
    }
    out
}

/// `federation-token-by-user`: an IAM user (or root) made itself a federated session with
/// GetFederationToken. The session lasts up to 36 hours and survives the user's access key being deactivated,
/// which makes it a known way to keep access (Stratus Red Team's persistence technique); identity brokers
/// of the old kind do it routinely, and are suppressed by principal.
pub(super) fn federation_token_by_user(input: &Input) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, s) in input.all.iter().enumerate() {
        let a = &s.assumption;
        let by_user = a.caller.is("IAMUser") || a.caller.is("Root");
        if !assumed(s) || a.kind != crate::extract::AssumeKind::GetFederationToken || !by_user {
            continue;
        }
        let summary = format!(
            "{} made itself the federated session {} with GetFederationToken: it lasts up to 36 h and outlives \
             the access key that made it",
            s.source_principal,
            a.session_arn.as_deref().unwrap_or("(unnamed)")
        );
        out.push(session_finding(input, FEDERATION_TOKEN_BY_USER, i, a.at, summary));
    }
    out
}

/// `service-role-used-by-human`: a role that AWS services assume (an AWS service assumed it anywhere in the
/// input, or its path is a service path) assumed by a chain that a person or an outside workload started.
/// When the head of the chain is not in the input, the rule cannot tell who is behind it and stays quiet.
pub(super) fn service_role_used_by_human(input: &Input) -> Vec<Finding> {
    // Role key → (the service, the first such assumption).
    let mut by_service: BTreeMap<Cow<str>, (&str, usize)> = BTreeMap::new();
    for (i, s) in input.all.iter().enumerate() {
        let c = &s.assumption.caller;
        if let (true, true, Some(role)) = (assumed(s), c.is("AWSService"), s.assumption.role_arn.as_deref()) {
            by_service.entry(role_key(role)).or_insert((c.invoked_by.as_deref().unwrap_or("an AWS service"), i));
        }
    }
    // Each session is judged on its own, side by side; the order of the sessions is kept.
    input.all.par_iter().enumerate().filter_map(|(i, s)| used_by_human(input, &by_service, i, s)).collect()
}

/// The finding for one session, if a person assumed a service's role with it.
fn used_by_human(
    input: &Input,
    by_service: &BTreeMap<Cow<str>, (&str, usize)>,
    i: usize,
    s: &Session,
) -> Option<Finding> {
    let role = s.assumption.role_arn.as_deref()?;
    if !assumed(s) {
        return None;
    }
    let who = match origin(input.all, i) {
        Origin::User => "a user",
        Origin::Federated => "a federated user",
        Origin::Workload => "a web-identity workload",
        Origin::Unknown if s.assumption.caller.is("AWSAccount") => "another account",
        Origin::Service | Origin::Unknown => return None,
    };
    let service = by_service.get(&*role_key(role));
    if service.is_none() && !service_path(role) {
        return None;
    }
    let why = match service {
        Some((svc, _)) => format!("a role {svc} assumes"),
        None => "a service role by its path".to_owned(),
    };
    let summary = format!("{} ({who}) assumed {}, {why}", s.origin_principal, short_role(Some(role)),);
    let mut f = session_finding(input, SERVICE_ROLE_USED_BY_HUMAN, i, s.assumption.at, summary);
    if let Some((_, j)) = service {
        push_id(&mut f.event_ids, Some(&input.all[*j].assumption.event_id));
    }
    f.source_ips.extend(s.source_ip().filter(|ip| crate::net::parse_ip(ip).is_some()).map(str::to_owned));
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::super::{detect, Baseline, Settings, FIRST_SEEN_ASSUMPTION};
    use super::super::{SENSITIVE_ROLE_WITHOUT_MFA, SERVICE_ROLE_USED_BY_HUMAN, UNTRUSTED_EXTERNAL_ACCOUNT};
    use crate::correlate::Session;
    use std::collections::BTreeSet;

    fn from_account(account: &str, role: &str) -> Session {
        let mut s = session(assumption(
            "x1",
            T0,
            crate::extract::Caller {
                kind: Some("AWSAccount".into()),
                principal_id: Some("AIDAOUTSIDER".into()),
                account_id: Some(account.into()),
                ..Default::default()
            },
            role,
            "s",
        ));
        s.source_principal = format!("aws-account:{account}/AIDAOUTSIDER");
        s.origin_principal = s.source_principal.clone();
        s
    }

    #[test]
    fn untrusted_external_account_cases() {
        let trusted = Settings { trusted_accounts: BTreeSet::from([OTHER_ACCT.to_owned()]), ..Settings::default() };
        let cases: Vec<(&str, Vec<Session>, Settings, usize)> = vec![
            ("an outside account assumes a role", vec![from_account(OTHER_ACCT, ROLE_ADMIN)], Settings::default(), 1),
            ("the outside account is trusted", vec![from_account(OTHER_ACCT, ROLE_ADMIN)], trusted, 0),
            (
                "another account of the organisation (its logs were read too)",
                vec![from_account(OTHER_ACCT, ROLE_ADMIN), {
                    let mut s = user_session("o1", T0 - 10, "arn:aws:iam::999988887777:role/Any");
                    s.assumption.caller.account_id = Some(OTHER_ACCT.into());
                    s
                }],
                Settings::default(),
                0,
            ),
            ("a same-account assumption", vec![user_session("a1", T0, ROLE_ADMIN)], Settings::default(), 0),
            (
                "an AWS service",
                vec![service_session("a1", T0, "lambda.amazonaws.com", ROLE_LAMBDA, "fn")],
                Settings::default(),
                0,
            ),
            (
                "a denied attempt issued nothing",
                vec![{
                    let mut s = from_account(OTHER_ACCT, ROLE_ADMIN);
                    s.assumption.error_code = Some("AccessDenied".into());
                    s
                }],
                Settings::default(),
                0,
            ),
        ];
        for (story, sessions, settings, want) in cases {
            assert_eq!(fired(UNTRUSTED_EXTERNAL_ACCOUNT, sessions, &settings, None).len(), want, "{story}");
        }
    }

    #[test]
    fn first_seen_assumption_cases() {
        let until = |t: i64| Settings { baseline_until: Some(t), ..Settings::default() };
        let lambda = |id: &str, at: i64, name: &str| service_session(id, at, "lambda.amazonaws.com", ROLE_LAMBDA, name);
        type Case<'a> = (&'a str, Vec<Session>, Settings, Option<Baseline>, Vec<(Option<usize>, i64)>);
        let cases: Vec<Case> = vec![
            ("no baseline: silent", vec![user_session("a1", T0, ROLE_ADMIN)], Settings::default(), None, vec![]),
            (
                "seen in training, seen again",
                vec![user_session("a1", T0, ROLE_ADMIN), user_session("a2", T0 + 7200, ROLE_ADMIN)],
                until(T0 + 3600),
                None,
                vec![],
            ),
            (
                "a new role after training, once",
                vec![
                    user_session("a1", T0, ROLE_ADMIN),
                    user_session("a2", T0 + 7200, ROLE_APP),
                    user_session("a3", T0 + 7300, ROLE_APP),
                ],
                until(T0 + 3600),
                None,
                vec![(Some(1), T0 + 7200)],
            ),
            (
                "Lambda's per-invocation session names are one assumer",
                vec![lambda("l1", T0, "awslambda_198_1"), lambda("l2", T0 + 7200, "awslambda_670_2")],
                until(T0 + 3600),
                None,
                vec![],
            ),
            (
                "a chained hop is keyed by the calling role, not its session",
                {
                    let mut a = chain_of(2);
                    let mut b = chain_of(2);
                    for s in &mut b {
                        s.assumption.at += 7200;
                        s.assumption.event_id.push('b');
                    }
                    a.append(&mut b);
                    a[3].parent = Some(2);
                    a
                },
                until(T0 + 3600),
                None,
                vec![],
            ),
            (
                "a persisted baseline judges without --baseline-until",
                vec![user_session("a1", T0, ROLE_ADMIN), user_session("a2", T0 + 10, ROLE_APP)],
                Settings::default(),
                Some(Baseline {
                    pairs: BTreeSet::from([(ALICE.to_owned(), ROLE_ADMIN.to_owned())]),
                    ..Baseline::default()
                }),
                vec![(Some(1), T0 + 10)],
            ),
        ];
        for (story, sessions, settings, baseline, want) in cases {
            assert_eq!(fired(FIRST_SEEN_ASSUMPTION, sessions, &settings, baseline.as_ref()), want, "{story}");
        }
        let d = detect(&sessions_of(vec![user_session("a1", T0, ROLE_ADMIN)]), &Settings::default(), None);
        assert_eq!(d.baseline.pairs, BTreeSet::from([(ALICE.to_owned(), ROLE_ADMIN.to_owned())]));
    }

    #[test]
    fn sensitive_role_without_mfa_cases() {
        let no_mfa = |role: &str| {
            let mut s = user_session("a1", T0, role);
            s.assumption.mfa = false;
            s
        };
        let saml = || {
            let mut s = session(assumption("a1", T0, caller_of_kind("SAMLUser"), ROLE_BREAKGLASS, "alice@example.com"));
            s.assumption.kind = crate::extract::AssumeKind::AssumeRoleWithSaml;
            s
        };
        let custom =
            Settings { sensitive_roles: vec![crate::pattern::Pattern::new("Admin").unwrap()], ..Settings::default() };
        let cases: Vec<(&str, Vec<Session>, Settings, usize)> = vec![
            ("a user into BreakGlass without MFA", vec![no_mfa(ROLE_BREAKGLASS)], Settings::default(), 1),
            ("with MFA", vec![user_session("a1", T0, ROLE_BREAKGLASS)], Settings::default(), 0),
            ("not a sensitive role", vec![no_mfa(ROLE_ADMIN)], Settings::default(), 0),
            ("a configured list replaces the default", vec![no_mfa(ROLE_ADMIN), no_mfa(ROLE_BREAKGLASS)], custom, 1),
            (
                "OrganizationAccountAccessRole by default",
                vec![no_mfa("arn:aws:iam::111122223333:role/OrganizationAccountAccessRole")],
                Settings::default(),
                1,
            ),
            ("SAML: MFA is the identity provider's", vec![saml()], Settings::default(), 0),
            (
                "a workload",
                vec![service_session("a1", T0, "ec2.amazonaws.com", ROLE_BREAKGLASS, "i-0abc12345def67890")],
                Settings::default(),
                0,
            ),
            (
                "a chain from a user without MFA",
                {
                    let mut c = chain_of(3);
                    c[2].assumption.mfa = false;
                    c
                },
                Settings::default(),
                1,
            ),
        ];
        for (story, sessions, settings, want) in cases {
            assert_eq!(fired(SENSITIVE_ROLE_WITHOUT_MFA, sessions, &settings, None).len(), want, "{story}");
        }
    }

    #[test]
    fn service_role_used_by_human_cases() {
        let cases: Vec<(&str, Vec<Session>, usize)> = vec![
            (
                "a user assumes the role Lambda uses",
                vec![
                    service_session("l1", T0, "lambda.amazonaws.com", ROLE_APP, "fn"),
                    user_session("a1", T0 + 60, ROLE_APP),
                ],
                1,
            ),
            ("a user assumes a /service-role/ role", vec![user_session("a1", T0, ROLE_LAMBDA)], 1),
            ("only the service assumes it", vec![service_session("l1", T0, "lambda.amazonaws.com", ROLE_APP, "fn")], 0),
            ("a user assumes an ordinary role", vec![user_session("a1", T0, ROLE_ADMIN)], 0),
            (
                "an outside account",
                vec![
                    service_session("l1", T0, "lambda.amazonaws.com", ROLE_APP, "fn"),
                    from_account(OTHER_ACCT, ROLE_APP),
                ],
                1,
            ),
            (
                "a Lambda chaining into another service role",
                {
                    let mut all = vec![
                        service_session("l1", T0, "lambda.amazonaws.com", ROLE_LAMBDA, "fn"),
                        session(assumption(
                            "l2",
                            T0 + 5,
                            role_session_caller("arn:aws:sts::111122223333:assumed-role/fn-role/fn", "ASIAL1"),
                            "arn:aws:iam::111122223333:role/service-role/other",
                            "x",
                        )),
                    ];
                    chain(&mut all, 0, 1);
                    all
                },
                0,
            ),
        ];
        for (story, sessions, want) in cases {
            assert_eq!(fired(SERVICE_ROLE_USED_BY_HUMAN, sessions, &Settings::default(), None).len(), want, "{story}");
        }
    }
}
