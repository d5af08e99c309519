//! Test builders: sessions as literals, so each rule's tests read as tables of stories.

use super::{detect, Baseline, Settings};
use crate::correlate::{Session, SessionActivity, Sessions};
use crate::extract::{id_hash, AssumeKind, Assumption, Caller, Failure, Mark, MarkFields};

/// 2026-11-20T10:00:00Z.
pub const T0: i64 = 1_795_168_800;
pub const ACCT: &str = "111122223333";
pub const OTHER_ACCT: &str = "999988887777";
pub const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
pub const ROLE_ADMIN: &str = "arn:aws:iam::111122223333:role/Admin";
pub const ROLE_BREAKGLASS: &str = "arn:aws:iam::111122223333:role/ops/BreakGlass";
pub const ROLE_LAMBDA: &str = "arn:aws:iam::111122223333:role/service-role/fn-role";
pub const ROLE_APP: &str = "arn:aws:iam::111122223333:role/App";

pub fn user(arn: &str) -> Caller {
    Caller {
        kind: Some("IAMUser".into()),
        arn: Some(arn.into()),
        principal_id: Some("AIDAEXAMPLE".into()),
        account_id: crate::extract::account_of(arn).map(Into::into),
        access_key_id: Some("AKIAEXAMPLE".into()),
        ..Caller::default()
    }
}

pub fn service(svc: &str) -> Caller {
    Caller { kind: Some("AWSService".into()), invoked_by: Some(svc.into()), ..Caller::default() }
}

pub fn caller_of_kind(kind: &str) -> Caller {
    Caller { kind: Some(kind.into()), ..Caller::default() }
}

/// A role session calling: its `userIdentity`.
pub fn role_session_caller(session_arn: &str, key: &str) -> Caller {
    Caller {
        kind: Some("AssumedRole".into()),
        arn: Some(session_arn.into()),
        account_id: crate::extract::account_of(session_arn).map(Into::into),
        access_key_id: Some(key.into()),
        ..Caller::default()
    }
}

/// A successful AssumeRole of `role` by `caller`, from 203.0.113.10, issuing `ASIA<event id>`.
pub fn assumption(event_id: &str, at: i64, caller: Caller, role: &str, session_name: &str) -> Assumption {
    Assumption {
        event_id: event_id.into(),
        hash: id_hash(event_id),
        shared_event_id: None,
        at,
        kind: AssumeKind::AssumeRole,
        region: Some("us-east-1".into()),
        recipient_account: crate::extract::account_of(role).map(Into::into),
        error_code: None,
        mfa: caller.mfa_authenticated,
        caller,
        role_arn: Some(role.into()),
        session_name: Some(session_name.into()),
        session_arn: crate::extract::session_arn_for(role, session_name).map(Into::into),
        issued_key: Some(format!("ASIA{}", event_id.to_uppercase()).into()),
        expires_at: Some(at + 3600),
        source_ip: Some("203.0.113.10".into()),
        user_agent: Some("aws-cli/2.15.0".into()),
        source_identity: None,
        subject: None,
        provider: None,
        external_id: false,
        session_policy: false,
        duration_seconds: None,
        by_console: false,
        implicit_trust: false,
    }
}

pub fn session(a: Assumption) -> Session {
    let source = match a.caller.kind.as_deref() {
        Some("AWSService") => a.caller.invoked_by.as_deref().unwrap_or_default().to_owned(),
        _ => a.caller.arn.as_deref().unwrap_or("unknown").to_owned(),
    };
    Session {
        seen_in_accounts: a.recipient_account.iter().map(|t| t.to_string()).collect(),
        assumption: Box::new(a),
        copies: 1,
        switch: None,
        parent: None,
        chain_depth: 1,
        source_principal: source.clone(),
        origin_principal: source,
        activity: SessionActivity::default(),
        linked_keys: Vec::new(),
        inferred: false,
    }
}

/// Alice (IAM user, MFA) assumes `role`.
pub fn user_session(event_id: &str, at: i64, role: &str) -> Session {
    let mut c = user(ALICE);
    c.mfa_authenticated = true;
    session(assumption(event_id, at, c, role, "alice"))
}

/// An AWS service assumes `role` (Lambda: session name = function name; EC2: the instance id).
pub fn service_session(event_id: &str, at: i64, svc: &str, role: &str, session_name: &str) -> Session {
    let mut a = assumption(event_id, at, service(svc), role, session_name);
    a.source_ip = Some(svc.into());
    a.user_agent = Some(svc.into());
    session(a)
}

/// A session known only from its calls.
pub fn inferred_session(session_arn: &str, created: i64, key: &str) -> Session {
    let mut a = assumption(&format!("inferred:{session_arn}"), created, Caller::default(), "", "");
    let (head, rest) = session_arn.split_once(":assumed-role/").expect("an assumed-role ARN");
    let (role, name) = rest.split_once('/').expect("role/session");
    a.role_arn = Some(format!("{}:role/{role}", head.replacen(":sts:", ":iam:", 1)).into());
    a.session_name = Some(name.into());
    a.session_arn = Some(session_arn.into());
    a.issued_key = Some(key.into());
    a.source_ip = None;
    a.user_agent = None;
    a.expires_at = None;
    let mut s = session(a);
    s.inferred = true;
    s.source_principal = "unknown".into();
    s.origin_principal = session_arn.into();
    s
}

/// Makes `child` a hop of `parent`'s chain (indices into the final vector).
pub fn chain(all: &mut [Session], parent: usize, child: usize) {
    all[child].parent = Some(parent);
    all[child].chain_depth = all[parent].chain_depth + 1;
    all[child].origin_principal = all[parent].origin_principal.clone();
}

/// One call made with a session's credentials.
#[derive(Clone, Copy)]
pub struct Call<'a> {
    pub event_id: &'a str,
    pub at: i64,
    pub source: &'a str,
    pub name: &'a str,
    pub ip: &'a str,
    pub failure: Failure,
    pub privileged: bool,
    pub by_aws: bool,
    pub console_sign_in: bool,
    pub attack_tool: bool,
    /// Whether the event id was kept (notable calls).
    pub noted: bool,
}

/// An S3 ListBuckets from `ip`.
pub fn call<'a>(event_id: &'a str, at: i64, ip: &'a str) -> Call<'a> {
    Call {
        event_id,
        at,
        source: "s3.amazonaws.com",
        name: "ListBuckets",
        ip,
        failure: Failure::None,
        privileged: false,
        by_aws: false,
        console_sign_in: false,
        attack_tool: false,
        noted: true,
    }
}

impl<'a> Call<'a> {
    pub fn named(self, source: &'a str, name: &'a str) -> Self {
        Call { source, name, privileged: crate::extract::is_privileged(source, name), ..self }
    }
    pub fn denied(self) -> Self {
        Call { failure: Failure::Denied, ..self }
    }
    pub fn failed(self) -> Self {
        Call { failure: Failure::Other, ..self }
    }
    pub fn by_aws(self) -> Self {
        Call { by_aws: true, ..self }
    }
    pub fn not_privileged(self) -> Self {
        Call { privileged: false, ..self }
    }
    pub fn by_attack_tool(self) -> Self {
        Call { attack_tool: true, ..self }
    }
    pub fn unnoted(self) -> Self {
        Call { noted: false, ..self }
    }
}

/// Adds calls to a session's activity, keeping marks in time order.
pub fn with_calls(mut s: Session, calls: &[Call]) -> Session {
    let act = &mut s.activity;
    for c in calls {
        let (action, ip) = (crate::extract::Action::new(c.source, c.name), crate::extract::Text::new(c.ip));
        let id = id_hash(c.event_id);
        if c.noted {
            act.event_ids.push(id, c.event_id);
        }
        act.marks.push(Mark::from(MarkFields {
            id,
            at: c.at,
            action,
            ip,
            failure: c.failure,
            is_assumption: false,
            privileged: c.privileged,
            by_aws: c.by_aws,
            console_sign_in: c.console_sign_in,
            attack_tool: c.attack_tool,
        }));
    }
    act.event_ids.settle();
    act.marks.sort_by_key(|m| (m.at(), m.id));
    s
}

pub fn sessions_of(sessions: Vec<Session>) -> Sessions {
    let mut accounts: Vec<String> = sessions.iter().flat_map(|s| s.seen_in_accounts.clone()).collect();
    accounts.sort();
    accounts.dedup();
    Sessions { sessions, accounts, ..Sessions::default() }
}

/// Runs every rule and keeps `rule`'s findings as (session, detected at).
pub fn fired(
    rule: &str,
    sessions: Vec<Session>,
    settings: &Settings,
    baseline: Option<&Baseline>,
) -> Vec<(Option<usize>, i64)> {
    detect(&sessions_of(sessions), settings, baseline)
        .findings
        .iter()
        .filter(|f| f.rule == rule)
        .map(|f| (f.session, f.detected_at))
        .collect()
}

/// Alice → App → Admin → BreakGlass (all with MFA), each hop made with the previous session's key.
pub fn chain_of(n: usize) -> Vec<Session> {
    let roles = [ROLE_APP, ROLE_ADMIN, ROLE_BREAKGLASS, "arn:aws:iam::111122223333:role/Deep"];
    let mut all: Vec<Session> = Vec::new();
    for (h, role) in roles.iter().enumerate().take(n) {
        let mut s = if h == 0 {
            user_session("h0", T0, role)
        } else {
            let p = &all[h - 1];
            let mut c = role_session_caller(
                p.assumption.session_arn.as_deref().unwrap(),
                p.assumption.issued_key.as_deref().unwrap(),
            );
            c.issuer_arn = p.assumption.role_arn;
            c.mfa_authenticated = true;
            let mut s = session(assumption(&format!("h{h}"), T0 + h as i64 * 60, c, role, "hop"));
            s.assumption.mfa = true;
            s
        };
        s.assumption.source_ip = Some("203.0.113.10".into());
        all.push(s);
        if h > 0 {
            chain(&mut all, h - 1, h);
        }
    }
    all
}
