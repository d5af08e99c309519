//! What sessions did with their credentials.
//!
//! `privileged-action-in-session`: the session granted access (CreateUser, CreateAccessKey,
//! CreateLoginProfile, Attach/Put User/Role/Group Policy, UpdateAssumeRolePolicy, CreateRole, …) or blinded
//! logging (StopLogging, DeleteTrail, UpdateTrail, PutEventSelectors that drops management events). The list
//! is [`PRIVILEGED_ACTIONS`](crate::extract::PRIVILEGED_ACTIONS); extract decides per call, since only it
//! sees a `PutEventSelectors` request.
//!
//! Only successful calls count (denials are `access-denied-burst`'s). Sessions of service-linked roles
//! (`/aws-service-role/`, `AWSServiceRoleFor…`) are left out: Identity Center provisioning roles and
//! Organizations creating its roles are those services doing their documented job. Deployment roles
//! (CloudFormation, CDK, Terraform) do this routinely too: suppress them by role.
//!
//! `console-sign-in-from-credentials`: the session's credentials were turned into a console session
//! (GetSigninToken on the federation endpoint) by something other than the Identity Center portal: how
//! aws_consoler and Pacu open a console from CLI or stolen keys. `aws-vault login` and in-house federation
//! brokers do it too: suppress them by principal or role.
//!
//! `attack-tool-user-agent`: credentials used by an attack tool, as its user agent says
//! ([`is_attack_tool`](crate::extract::is_attack_tool): TruffleHog checking keys it found, or the CLI or an
//! SDK on Kali, Parrot or Pentoo Linux). A session's calls, and an IAM user's or root's calls with its own
//! keys (a finding on the principal a UTC day: TruffleHog mostly finds long-term keys). Failed calls count: the
//! credentials are in the tool's hands either way. A user agent is the caller's to choose, so this finds
//! the careless, not the careful; authorised penetration tests are suppressed by principal.

use super::{
    action_label, principal_finding, push_id, session_finding, session_named, Finding, Input, ATTACK_TOOL_USER_AGENT,
    CONSOLE_SIGN_IN_FROM_CREDENTIALS, PRIVILEGED_ACTION_IN_SESSION,
};
use crate::extract::Failure;

fn service_linked(role_arn: Option<&str>) -> bool {
    role_arn.is_some_and(|r| {
        r.contains(":role/aws-service-role/") || crate::extract::role_name(r).starts_with("AWSServiceRoleFor")
    })
}

pub(super) fn privileged_action_in_session(input: &Input) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, s) in input.all.iter().enumerate() {
        if !s.assumption.success() || service_linked(s.assumption.role_arn.as_deref()) {
            continue;
        }
        let act = &s.activity;
        let calls: Vec<_> = act.marks.iter().filter(|m| m.privileged() && m.failure() == Failure::None).collect();
        let Some(first) = calls.first() else { continue };
        let actions = distinct(calls.iter().map(|m| {
            let (src, name) = act.action(m);
            let label = action_label(src, name);
            if name == "PutEventSelectors" {
                label + " (dropping management events)"
            } else {
                label
            }
        }));
        let who = session_named(s);
        let summary = format!("{who} (from {}) made {} privileged call(s): {actions}", s.origin_principal, calls.len());
        let mut f = session_finding(input, PRIVILEGED_ACTION_IN_SESSION, i, first.at(), summary);
        for m in &calls {
            f.cite(act, m);
        }
        out.push(f);
    }
    out
}

pub(super) fn console_sign_in_from_credentials(input: &Input) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, s) in input.all.iter().enumerate() {
        let act = &s.activity;
        let sign_ins: Vec<_> =
            act.marks.iter().filter(|m| m.console_sign_in() && m.failure() == Failure::None).collect();
        let Some(first) = sign_ins.first() else { continue };
        let who = session_named(s);
        let summary = format!(
            "{who} (from {}) was turned into a console session {} time(s) through GetSigninToken, \
             not by the Identity Center portal",
            s.origin_principal,
            sign_ins.len()
        );
        let mut f = session_finding(input, CONSOLE_SIGN_IN_FROM_CREDENTIALS, i, first.at(), summary);
        for m in &sign_ins {
            f.cite(act, m);
        }
        out.push(f);
    }
    out
}

/// Labels, each once, in the order first given, joined for a summary.
fn distinct(labels: impl Iterator<Item = String>) -> String {
    let mut kept: Vec<String> = Vec::new();
    for label in labels {
        if !kept.contains(&label) {
            kept.push(label);
        }
    }
    kept.join(", ")
}

/// The distinct actions of some calls, as `service:Action`, in the order first made.
fn actions_of<'a>(actions: impl Iterator<Item = &'a crate::intern::Action>) -> String {
    distinct(actions.map(|a| {
        let (source, name) = a.get();
        action_label(source, name)
    }))
}

pub(super) fn attack_tool_user_agent(input: &Input) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, s) in input.all.iter().enumerate() {
        let act = &s.activity;
        let calls: Vec<_> = act.marks.iter().filter(|m| m.attack_tool()).collect();
        let Some(first) = calls.first() else { continue };
        let summary = format!(
            "{} (from {}) was used by an attack tool (TruffleHog, or Kali, Parrot or Pentoo Linux, by its user \
             agent) for {} call(s): {}",
            session_named(s),
            s.origin_principal,
            calls.len(),
            actions_of(calls.iter().map(|m| &m.action))
        );
        let mut f = session_finding(input, ATTACK_TOOL_USER_AGENT, i, first.at(), summary);
        for m in &calls {
            f.cite(act, m);
        }
        out.push(f);
    }
    // Sorted by principal and time: each user's calls of one UTC day are together.
    let day = |c: &crate::correlate::UserToolCall| c.at.div_euclid(86_400);
    for calls in input.sessions.user_tool_calls.chunk_by(|a, b| a.principal == b.principal && day(a) == day(b)) {
        let first = &calls[0];
        let summary = format!(
            "{}'s own keys were used by an attack tool (TruffleHog, or Kali, Parrot or Pentoo Linux, by its user \
             agent) for {} call(s) on {}: {}",
            first.principal,
            calls.len(),
            &crate::timefmt::format_rfc3339(first.at)[..10],
            actions_of(calls.iter().map(|c| &c.action))
        );
        let mut f = principal_finding(ATTACK_TOOL_USER_AGENT, &first.principal, first.at, summary);
        for c in calls {
            push_id(&mut f.event_ids, c.event_id.as_deref());
        }
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::super::{detect, Settings, ATTACK_TOOL_USER_AGENT, PRIVILEGED_ACTION_IN_SESSION};
    use crate::correlate::{Session, UserToolCall};

    #[test]
    fn attack_tool_user_agent_cases() {
        let admin = || user_session("a1", T0, ROLE_ADMIN);
        let ip = "203.0.113.10";
        let identity = call("c1", T0 + 10, ip).named("sts.amazonaws.com", "GetCallerIdentity");
        let tooled = with_calls(
            admin(),
            &[identity.by_attack_tool(), call("c2", T0 + 20, ip), call("c3", T0 + 30, ip).by_attack_tool().denied()],
        );
        let mut sessions = sessions_of(vec![tooled, with_calls(admin(), &[identity])]);
        let tool_call = |principal: &str, at: i64, id: u64, event_id: &str| UserToolCall {
            principal: principal.into(),
            at,
            id,
            action: crate::extract::Action::new("sts.amazonaws.com", "GetCallerIdentity"),
            event_id: Some(event_id.into()),
        };
        sessions.user_tool_calls = vec![
            tool_call(ALICE, T0 + 100, 1, "u1"),
            tool_call(ALICE, T0 + 200, 2, "u2"),
            tool_call(ALICE, T0 + 86_400, 4, "u4"),
            tool_call("arn:aws:iam::111122223333:user/bob", T0 + 50, 3, "u3"),
        ];
        let d = detect(&sessions, &Settings::default(), None);
        let found: Vec<_> = d
            .findings
            .iter()
            .filter(|f| f.rule == ATTACK_TOOL_USER_AGENT)
            .map(|f| (f.session, f.principal.as_str(), f.detected_at, f.event_ids.join(";")))
            .collect();
        assert_eq!(
            found,
            [
                (Some(0), ALICE, T0 + 10, "a1;c1;c3".to_owned()),
                (None, "arn:aws:iam::111122223333:user/bob", T0 + 50, "u3".to_owned()),
                (None, ALICE, T0 + 100, "u1;u2".to_owned()),
                (None, ALICE, T0 + 86_400, "u4".to_owned()),
            ],
            "the session's two calls by the tool (a denied one too), each user's own a day, not the other session"
        );
        let f = d.findings.iter().find(|f| f.rule == ATTACK_TOOL_USER_AGENT && f.session.is_none()).unwrap();
        assert_eq!(
            f.summary,
            "arn:aws:iam::111122223333:user/bob's own keys were used by an attack tool (TruffleHog, or Kali, Parrot \
             or Pentoo Linux, by its user agent) for 1 call(s) on 2026-11-20: sts:GetCallerIdentity"
        );
    }

    #[test]
    fn privileged_action_in_session_cases() {
        let admin = || user_session("a1", T0, ROLE_ADMIN);
        let cases: Vec<(&str, Session, Vec<&str>)> = vec![
            (
                "a session creates a user and gives it a key",
                with_calls(
                    admin(),
                    &[
                        call("c1", T0 + 10, "203.0.113.10"),
                        call("c2", T0 + 20, "203.0.113.10").named("iam.amazonaws.com", "CreateUser"),
                        call("c3", T0 + 30, "203.0.113.10").named("iam.amazonaws.com", "CreateAccessKey"),
                    ],
                ),
                vec!["a1", "c2", "c3"],
            ),
            (
                "a session stops the trail",
                with_calls(
                    admin(),
                    &[call("c1", T0 + 10, "203.0.113.10").named("cloudtrail.amazonaws.com", "StopLogging")],
                ),
                vec!["a1", "c1"],
            ),
            (
                "a denied CreateUser grants nothing",
                with_calls(
                    admin(),
                    &[call("c1", T0 + 10, "203.0.113.10").named("iam.amazonaws.com", "CreateUser").denied()],
                ),
                vec![],
            ),
            (
                "PutEventSelectors that keeps management events (extract clears the flag)",
                with_calls(
                    admin(),
                    &[call("c1", T0 + 10, "203.0.113.10")
                        .named("cloudtrail.amazonaws.com", "PutEventSelectors")
                        .not_privileged()],
                ),
                vec![],
            ),
            (
                "reads only",
                with_calls(admin(), &[call("c1", T0 + 10, "203.0.113.10").named("iam.amazonaws.com", "ListUsers")]),
                vec![],
            ),
            (
                "Identity Center's service-linked role provisioning a permission set",
                with_calls(
                    service_session(
                        "a1",
                        T0,
                        "sso.amazonaws.com",
                        "arn:aws:iam::111122223333:role/aws-service-role/sso.amazonaws.com/AWSServiceRoleForSSO",
                        "AWS-SSO",
                    ),
                    &[call("c1", T0 + 10, "sso.amazonaws.com").named("iam.amazonaws.com", "CreateRole").by_aws()],
                ),
                vec![],
            ),
            (
                "stolen instance credentials creating a user",
                with_calls(
                    inferred_session("arn:aws:sts::111122223333:assumed-role/web/i-0abc12345def67890", T0, "ASIAI"),
                    &[call("c1", T0 + 10, "192.0.2.1").named("iam.amazonaws.com", "CreateUser")],
                ),
                vec!["c1"],
            ),
        ];
        for (story, s, want) in cases {
            let d = detect(&sessions_of(vec![s]), &Settings::default(), None);
            let ids: Vec<&str> = d
                .findings
                .iter()
                .filter(|f| f.rule == PRIVILEGED_ACTION_IN_SESSION)
                .flat_map(|f| f.event_ids.iter().map(String::as_str))
                .collect();
            assert_eq!(ids, want, "{story}");
        }
        let d = detect(
            &sessions_of(vec![with_calls(
                admin(),
                &[
                    call("c1", T0 + 20, "203.0.113.10").named("iam.amazonaws.com", "CreateUser"),
                    call("c2", T0 + 30, "203.0.113.10").named("cloudtrail.amazonaws.com", "PutEventSelectors"),
                ],
            )]),
            &Settings::default(),
            None,
        );
        assert_eq!(
            d.findings[0].summary,
            "arn:aws:sts::111122223333:assumed-role/Admin/alice (from arn:aws:iam::111122223333:user/alice) made 2 \
             privileged call(s): iam:CreateUser, cloudtrail:PutEventSelectors (dropping management events)"
        );
        assert_eq!(d.findings[0].detected_at, T0 + 20);
    }
}
