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

use super::{
    action_label, session_finding, session_named, Finding, Input, CONSOLE_SIGN_IN_FROM_CREDENTIALS,
    PRIVILEGED_ACTION_IN_SESSION,
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
        let mut actions: Vec<String> = Vec::new();
        for m in &calls {
            let (src, name) = act.action(m);
            let mut label = action_label(src, name);
            if name == "PutEventSelectors" {
                label.push_str(" (dropping management events)");
            }
            if !actions.contains(&label) {
                actions.push(label);
            }
        }
        let who = session_named(s);
        let summary = format!(
            "{who} (from {}) made {} privileged call(s): {}",
            s.origin_principal,
            calls.len(),
            actions.join(", ")
        );
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

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::super::{detect, Settings, PRIVILEGED_ACTION_IN_SESSION};
    use crate::correlate::Session;

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
