//! Detect: anomaly findings over whole sessions and chains (issue 4). Rules see plain `Session`s — no I/O,
//! no threads, no Polars — so each is a table-driven unit test away from being checked.
//!
//! Security teams drown in single-event alerts, so every rule here judges a session (or one principal's
//! attempts) as a whole and fires once per session, naming the events that prove it. The rules, one
//! function each, grouped by what they look at:
//!
//! * [`elsewhere`]: `credentials-used-elsewhere`, where credentials were used from.
//! * [`bursts`]: `role-enumeration` and `access-denied-burst`, runs of denials in a time window.
//! * [`trust`]: who assumed what: `untrusted-external-account`, `long-role-chain`, `first-seen-assumption`,
//!   `sensitive-role-without-mfa`, `service-role-used-by-human`.
//! * [`activity`]: `privileged-action-in-session`, what a session did.
//!
//! [`detect`] runs them all, drops what `[[detect.suppress]]` entries match and what happened before
//! `--baseline-until`, and sorts the rest.

mod activity;
mod bursts;
mod chains;
mod elsewhere;
mod trust;

pub use trust::awaits_earlier_hop;

use crate::correlate::{Session, Sessions};
use crate::net::{AwsRanges, Cidr, Granularity};
use crate::pattern::Pattern;
use std::borrow::Cow;
use std::collections::BTreeSet;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// One finding: a rule that fired on a session (or a principal), with the events that prove it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    /// Unix seconds: when the evidence happened (the first event that made the rule fire).
    pub detected_at: i64,
    /// Index of the session in `Sessions::sessions`, when the finding is about one session.
    pub session: Option<usize>,
    pub session_arn: Option<String>,
    pub access_key_id: Option<String>,
    /// The origin principal.
    pub principal: String,
    pub role_arn: Option<String>,
    /// One line a human understands.
    pub summary: String,
    /// The assumption's event id first (when there is one), then the calls that prove it, at most
    /// [`MAX_EVENT_IDS`]; the summary gives full counts.
    pub event_ids: Vec<String>,
    /// Other sessions the finding is about: the failed attempts of a `role-enumeration` burst.
    pub related_sessions: Vec<usize>,
    /// The addresses the evidence came from (for `credentials-used-elsewhere`, the addresses away from the
    /// session's own network). A suppression's `cidr` matches when all of them are inside it.
    pub source_ips: Vec<String>,
}

/// The most event ids a finding lists.
pub const MAX_EVENT_IDS: usize = 100;

pub const CREDENTIALS_USED_ELSEWHERE: &str = "credentials-used-elsewhere";
pub const ROLE_ENUMERATION: &str = "role-enumeration";
pub const UNTRUSTED_EXTERNAL_ACCOUNT: &str = "untrusted-external-account";
pub const LONG_ROLE_CHAIN: &str = "long-role-chain";
pub const FIRST_SEEN_ASSUMPTION: &str = "first-seen-assumption";
pub const SENSITIVE_ROLE_WITHOUT_MFA: &str = "sensitive-role-without-mfa";
pub const PRIVILEGED_ACTION_IN_SESSION: &str = "privileged-action-in-session";
pub const ACCESS_DENIED_BURST: &str = "access-denied-burst";
pub const SERVICE_ROLE_USED_BY_HUMAN: &str = "service-role-used-by-human";
pub const CONSOLE_SIGN_IN_FROM_CREDENTIALS: &str = "console-sign-in-from-credentials";
pub const IMPLICIT_SELF_TRUST: &str = "implicit-self-trust";
pub const FEDERATION_TOKEN_BY_USER: &str = "federation-token-by-user";
pub const ROLE_JUGGLING: &str = "role-juggling";
pub const ATTACK_TOOL_USER_AGENT: &str = "attack-tool-user-agent";

/// Rules that fire on a principal (no session) at most once a UTC day. Nightly knows their findings by the
/// day of their first evidence, not its time: the activity it carries from run to run loses its oldest
/// calls as time passes, which can move a day's first call later.
pub const DAILY_PRINCIPAL_RULES: [&str; 1] = [ATTACK_TOOL_USER_AGENT];

/// Rules whose findings on a session its own calls decide: a call delivered later can move a finding's
/// evidence (its time, its counts, the events it cites). A nightly pass that another follows leaves their
/// findings on sessions still open to the next pass, which carries such a session whole, so that a backlog
/// read in passes reports them as one pass would.
pub const OWN_CALL_RULES: [&str; 4] =
    [PRIVILEGED_ACTION_IN_SESSION, ACCESS_DENIED_BURST, CONSOLE_SIGN_IN_FROM_CREDENTIALS, ATTACK_TOOL_USER_AGENT];

/// Rules whose findings on a session the session alone decides (its assumption, its calls, its chain), so
/// that a later run that carries it whole finds them again. Nightly leaves their findings on an open session
/// that awaits its chain's earlier hop ([`awaits_earlier_hop`]) to the run that reads that hop, whose
/// findings name the chain's origin.
pub const SESSION_RULES: [&str; 10] = [
    PRIVILEGED_ACTION_IN_SESSION,
    ACCESS_DENIED_BURST,
    CONSOLE_SIGN_IN_FROM_CREDENTIALS,
    ATTACK_TOOL_USER_AGENT,
    IMPLICIT_SELF_TRUST,
    FEDERATION_TOKEN_BY_USER,
    LONG_ROLE_CHAIN,
    ROLE_JUGGLING,
    SENSITIVE_ROLE_WITHOUT_MFA,
    UNTRUSTED_EXTERNAL_ACCOUNT,
];

/// Every rule: its id (what findings, suppressions and the `flags` column say) and severity.
pub const RULES: [(&str, Severity); 14] = [
    (CREDENTIALS_USED_ELSEWHERE, Severity::High),
    (ROLE_ENUMERATION, Severity::High),
    (UNTRUSTED_EXTERNAL_ACCOUNT, Severity::High),
    (LONG_ROLE_CHAIN, Severity::Medium),
    (FIRST_SEEN_ASSUMPTION, Severity::Medium),
    (SENSITIVE_ROLE_WITHOUT_MFA, Severity::High),
    (PRIVILEGED_ACTION_IN_SESSION, Severity::High),
    (ACCESS_DENIED_BURST, Severity::Medium),
    (SERVICE_ROLE_USED_BY_HUMAN, Severity::High),
    (CONSOLE_SIGN_IN_FROM_CREDENTIALS, Severity::Medium),
    (IMPLICIT_SELF_TRUST, Severity::Medium),
    (FEDERATION_TOKEN_BY_USER, Severity::Medium),
    (ROLE_JUGGLING, Severity::Medium),
    (ATTACK_TOOL_USER_AGENT, Severity::High),
];

/// The severity of a rule id.
pub fn severity_of(rule: &str) -> Severity {
    RULES.iter().find(|(id, _)| *id == rule).map(|(_, s)| *s).unwrap_or(Severity::High)
}

/// "At least `min_events` within `window` seconds" (plus, for `role-enumeration`, `min_distinct` roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BurstLimits {
    pub min_events: usize,
    pub min_distinct: usize,
    pub window: i64,
}

/// Drops the findings it matches. Every matcher given must match; `rule` alone turns a rule off.
#[derive(Debug, Clone)]
pub struct Suppression {
    /// A rule id, or `None` for every rule.
    pub rule: Option<String>,
    /// Matches the finding's role (ARN, name, or path and name).
    pub role: Option<Pattern>,
    /// Matches the origin or the source principal (ARN, or its last segment).
    pub principal: Option<Pattern>,
    /// Matches when every address of the finding is inside it.
    pub cidr: Option<Cidr>,
}

impl Suppression {
    fn matches(&self, f: &Finding, source_principal: Option<&str>) -> bool {
        self.rule.as_deref().is_none_or(|r| r == f.rule)
            && self.role.as_ref().is_none_or(|p| f.role_arn.as_deref().is_some_and(|r| p.matches_role(r)))
            && self.principal.as_ref().is_none_or(|p| {
                p.matches_principal(&f.principal) || source_principal.is_some_and(|s| p.matches_principal(s))
            })
            && self.cidr.as_ref().is_none_or(|c| {
                !f.source_ips.is_empty()
                    && f.source_ips.iter().all(|ip| crate::net::parse_ip(ip).is_some_and(|ip| c.contains(ip)))
            })
    }
}

/// The rules' settings, resolved from `[detect]` in `trailscan.toml` and the command line by `config`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Accounts outside the organisation that may assume its roles.
    pub trusted_accounts: BTreeSet<String>,
    pub sensitive_roles: Vec<Pattern>,
    pub max_chain_depth: u32,
    /// Networks whose use of any credentials is never `credentials-used-elsewhere`.
    pub allow_cidrs: Vec<Cidr>,
    pub networks: Granularity,
    pub aws_ranges: Option<AwsRanges>,
    pub role_enumeration: BurstLimits,
    pub access_denied_burst: BurstLimits,
    pub suppress: Vec<Suppression>,
    /// `--baseline-until`: assumptions before it train `first-seen-assumption`, and no finding whose
    /// evidence starts before it is reported.
    pub baseline_until: Option<i64>,
}

/// Roles that only break-glass procedures and the organisation's management should assume.
pub const DEFAULT_SENSITIVE_ROLES: [&str; 5] =
    ["OrganizationAccountAccessRole", "AWSControlTowerExecution", "*BreakGlass*", "*Break-Glass*", "*Break_Glass*"];

impl Default for Settings {
    fn default() -> Self {
        Settings {
            trusted_accounts: BTreeSet::new(),
            sensitive_roles: DEFAULT_SENSITIVE_ROLES.iter().filter_map(|p| Pattern::new(p).ok()).collect(),
            max_chain_depth: 2,
            allow_cidrs: Vec::new(),
            networks: Granularity::default(),
            aws_ranges: None,
            role_enumeration: BurstLimits { min_events: 10, min_distinct: 5, window: 15 * 60 },
            access_denied_burst: BurstLimits { min_events: 10, min_distinct: 1, window: 10 * 60 },
            suppress: Vec::new(),
            baseline_until: None,
        }
    }
}

/// What `first-seen-assumption` has seen: (caller, role) pairs. The nightly job persists it between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baseline {
    pub pairs: BTreeSet<(String, String)>,
    /// A nightly run's horizon. A pair first shown by a session still open then (credentials expiring after
    /// it) is neither reported nor learned when
    /// - another pass of the same run follows ([`Baseline::pass_follows`]): the session is carried, and the
    ///   next pass judges the pair, with any earlier assumption of it delivered late, so the finding names the
    ///   pair's first assumption, as one pass over everything would; or
    /// - the session is known only from the role owner's copy of a cross-account assumption (the caller shown
    ///   as an account of the organisation, whose own copy naming the caller is still to be read): its pair
    ///   names the account, not the caller; the run that reads the caller's copy judges the caller's pair, as
    ///   one run over everything would. Should that copy never come, the pair is judged when the session is
    ///   final; or
    /// - the session is a chained hop whose caller's own assumption, in an account whose logs are read, is
    ///   still to be read (delivered late): the finding names the chain's origin, which that hop brings. Here
    ///   too, should it never come, the pair is judged when the session is final.
    pub horizon: Option<i64>,
    /// Another pass of the same nightly run follows this one (see [`Baseline::horizon`]).
    pub pass_follows: bool,
}

/// The outcome of a run of the rules.
#[derive(Debug, Default)]
pub struct Detection {
    /// Sorted by time, then rule, then session.
    pub findings: Vec<Finding>,
    /// Findings dropped by `[[detect.suppress]]` entries.
    pub suppressed: usize,
    /// The baseline after this run (the given one plus every pair seen).
    pub baseline: Baseline,
}

impl Detection {
    /// The rule ids that fired on each session (directly or as part of a burst), sorted.
    pub fn flags_by_session(&self, sessions: usize) -> Vec<Vec<&'static str>> {
        let mut out: Vec<Vec<&'static str>> = vec![Vec::new(); sessions];
        for f in &self.findings {
            for &i in f.session.iter().chain(&f.related_sessions) {
                if let Some(v) = out.get_mut(i) {
                    v.push(f.rule);
                }
            }
        }
        for v in &mut out {
            v.sort_unstable();
            v.dedup();
        }
        out
    }

    /// Whether a finding at or above `level` exists.
    pub fn reaches(&self, level: Severity) -> bool {
        self.findings.iter().any(|f| f.severity >= level)
    }
}

/// How many findings of each severity, most severe first (`2 high, 1 medium`); empty when there are none.
pub fn count_by_severity(findings: &[Finding]) -> String {
    [Severity::High, Severity::Medium, Severity::Low]
        .iter()
        .map(|&sev| (sev, findings.iter().filter(|f| f.severity == sev).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(sev, n)| format!("{n} {}", sev.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What every rule reads.
struct Input<'a> {
    all: &'a [Session],
    sessions: &'a Sessions,
    settings: &'a Settings,
}

/// Runs every rule. Findings are sorted by time, then rule, then session.
pub fn detect(sessions: &Sessions, settings: &Settings, baseline: Option<&Baseline>) -> Detection {
    let input = Input { all: &sessions.sessions, sessions, settings };
    // The rules read the sessions and nothing else: they run side by side, and the sort below fixes the order.
    type Rule = fn(&Input) -> Vec<Finding>;
    const RULES: [Rule; 13] = [
        elsewhere::credentials_used_elsewhere,
        bursts::role_enumeration,
        trust::untrusted_external_account,
        chains::long_role_chain,
        trust::sensitive_role_without_mfa,
        activity::privileged_action_in_session,
        bursts::access_denied_burst,
        trust::service_role_used_by_human,
        activity::console_sign_in_from_credentials,
        trust::implicit_self_trust,
        trust::federation_token_by_user,
        chains::role_juggling,
        activity::attack_tool_user_agent,
    ];
    use rayon::prelude::*;
    let (found, (first_seen, learned)) = rayon::join(
        || RULES.par_iter().map(|rule| rule(&input)).collect::<Vec<Vec<Finding>>>(),
        || trust::first_seen_assumption(&input, baseline),
    );
    let mut findings: Vec<Finding> = found.into_iter().flatten().chain(first_seen).collect();

    if let Some(until) = settings.baseline_until {
        findings.retain(|f| f.detected_at >= until);
    }
    let before = findings.len();
    findings.retain(|f| {
        let source = f.session.and_then(|i| input.all.get(i)).map(|s| s.source_principal.as_str());
        !settings.suppress.iter().any(|s| s.matches(f, source))
    });
    let suppressed = before - findings.len();
    findings.sort_by(|a, b| {
        (a.detected_at, a.rule, a.session, &a.principal, &a.summary).cmp(&(
            b.detected_at,
            b.rule,
            b.session,
            &b.principal,
            &b.summary,
        ))
    });
    Detection { findings, suppressed, baseline: learned }
}

/// Where the chain a session belongs to starts, for rules that care whether a person is behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// An AWS service assumed the first role (Lambda, EC2, ECS, AWS Config, …).
    Service,
    /// An IAM user or root, directly or by console switch: MFA is visible in CloudTrail.
    User,
    /// A SAML (or Identity Center) subject: a person, whose MFA the identity provider checks out of sight.
    Federated,
    /// An OIDC subject (GitHub Actions, EKS service accounts, Cognito): usually a workload.
    Workload,
    /// Not in the input: an inferred session, a chain whose head was not read, an outside account's role.
    Unknown,
}

/// The first session of `i`'s chain that is in the input.
fn chain_head(all: &[Session], mut i: usize) -> usize {
    // Parents always come earlier in the order, so this ends.
    while let Some(p) = all[i].parent.filter(|&p| p < i) {
        i = p;
    }
    i
}

fn origin(all: &[Session], i: usize) -> Origin {
    let head = &all[chain_head(all, i)];
    if head.inferred {
        return Origin::Unknown;
    }
    if head.switch.is_some() {
        return Origin::User;
    }
    let c = &head.assumption.caller;
    match c.kind.as_deref() {
        Some("AWSService") => Origin::Service,
        Some("IAMUser") | Some("Root") => Origin::User,
        Some("SAMLUser") | Some("IdentityCenterUser") => Origin::Federated,
        Some("WebIdentityUser") => Origin::Workload,
        // The role owner's copy of a cross-account call names only the caller's unique id: AIDA is a user.
        Some("AWSAccount") if c.principal_id.as_deref().is_some_and(|p| p.starts_with("AIDA")) => Origin::User,
        _ => Origin::Unknown,
    }
}

/// `arn:aws:iam::1:role/path/Name` and `arn:aws:sts::1:assumed-role/Name/session` → `arn:aws:iam::1:role/Name`,
/// so a role is one key whichever record named it.
fn role_key(arn: &str) -> Cow<'_, str> {
    if let Some((head, rest)) = arn.split_once(":assumed-role/") {
        let name = rest.split('/').next().unwrap_or(rest);
        return Cow::Owned(format!("{}:role/{name}", head.replacen(":sts:", ":iam:", 1)));
    }
    match arn.split_once(":role/") {
        // Most roles have no path: the ARN is its own key (every session asks, so no copy).
        Some((_, name)) if !name.contains('/') => Cow::Borrowed(arn),
        Some((head, _)) => Cow::Owned(format!("{head}:role/{}", crate::extract::role_name(arn))),
        None => Cow::Borrowed(arn),
    }
}

/// A short name for a role in summaries: its name without path, or the whole string if it is no role ARN.
fn short_role(arn: Option<&str>) -> &str {
    match arn {
        Some(a) if a.contains(":role/") => crate::extract::role_name(a),
        Some(a) => a,
        None => "(unknown role)",
    }
}

/// `iam.amazonaws.com`/`CreateUser` → `iam:CreateUser`.
fn action_label(source: &str, name: &str) -> String {
    format!("{}:{name}", source.strip_suffix(".amazonaws.com").unwrap_or(source))
}

impl Finding {
    /// Cites a call of `act` as evidence: its event id, and its source address when that is an address.
    fn cite(&mut self, act: &crate::correlate::SessionActivity, m: &crate::extract::Mark) {
        push_id(&mut self.event_ids, act.event_id(m));
        self.note_address(act.ip(m));
    }

    /// Adds `ip` to the evidence's addresses, once, if it is an address (not `AWS Internal` or a service name).
    fn note_address(&mut self, ip: &str) {
        if crate::net::parse_ip(ip).is_some() && !self.source_ips.iter().any(|x| x == ip) {
            self.source_ips.push(ip.to_owned());
        }
    }
}

/// A session as a finding's summary names it: its ARN, or its role when it has none.
fn session_named(s: &Session) -> String {
    match s.assumption.session_arn.as_deref() {
        Some(arn) => arn.to_owned(),
        None => format!("a session of {}", short_role(s.assumption.role_arn.as_deref())),
    }
}

fn push_id(ids: &mut Vec<String>, id: Option<&str>) {
    if let Some(id) = id {
        if ids.len() < MAX_EVENT_IDS && !ids.iter().any(|x| x == id) {
            ids.push(id.to_owned());
        }
    }
}

/// A finding about session `i`, with its assumption's event id first (inferred sessions have none).
fn session_finding(input: &Input, rule: &'static str, i: usize, detected_at: i64, summary: String) -> Finding {
    let s = &input.all[i];
    let mut event_ids = Vec::new();
    if !s.inferred {
        push_id(&mut event_ids, Some(&s.assumption.event_id));
    }
    Finding {
        rule,
        severity: severity_of(rule),
        detected_at,
        session: Some(i),
        session_arn: s.assumption.session_arn.as_deref().map(str::to_owned),
        access_key_id: s.assumption.issued_key.as_deref().map(str::to_owned),
        principal: s.origin_principal.clone(),
        role_arn: s.assumption.role_arn.as_deref().map(str::to_owned),
        summary,
        event_ids,
        related_sessions: Vec::new(),
        source_ips: Vec::new(),
    }
}

/// A finding on a principal rather than a session (`principal`'s own keys, say).
fn principal_finding(rule: &'static str, principal: &str, detected_at: i64, summary: String) -> Finding {
    Finding {
        rule,
        severity: severity_of(rule),
        detected_at,
        session: None,
        session_arn: None,
        access_key_id: None,
        principal: principal.to_owned(),
        role_arn: None,
        summary,
        event_ids: Vec::new(),
        related_sessions: Vec::new(),
        source_ips: Vec::new(),
    }
}

/// Durations in summaries: `45s`, `4m12s`, `2h05m`.
fn duration(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
pub(crate) mod fixture;

#[cfg(test)]
mod tests {
    use super::fixture::*;
    use super::*;

    #[test]
    fn rule_table_is_complete_and_defaults_are_valid() {
        assert_eq!(Settings::default().sensitive_roles.len(), DEFAULT_SENSITIVE_ROLES.len());
        let ids: BTreeSet<&str> = RULES.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids.len(), RULES.len(), "rule ids are distinct");
    }

    #[test]
    fn the_readme_documents_every_rule_with_its_severity() {
        let readme = include_str!("../../README.md");
        let rows = readme.lines().filter(|l| RULES.iter().any(|(id, _)| l.starts_with(&format!("| `{id}` |"))));
        assert_eq!(rows.count(), RULES.len(), "one row in the rule table per rule");
        for (id, severity) in RULES {
            let row = format!("| `{id}` | {} |", severity.name());
            assert!(readme.lines().any(|l| l.starts_with(&row)), "README: no rule table row `{row}`");
            assert!(readme.contains(&format!("**`{id}`.**")), "README: no paragraph on {id}");
        }
    }

    #[test]
    fn role_keys_drop_paths_and_sessions() {
        for (arn, key) in [
            ("arn:aws:iam::1:role/service-role/level1", "arn:aws:iam::1:role/level1"),
            ("arn:aws:sts::1:assumed-role/level1/level1", "arn:aws:iam::1:role/level1"),
            ("arn:aws-cn:iam::1:role/Admin", "arn:aws-cn:iam::1:role/Admin"),
            ("arn:aws:iam::1:user/alice", "arn:aws:iam::1:user/alice"),
        ] {
            assert_eq!(role_key(arn), key);
        }
    }

    #[test]
    fn suppressions_need_every_matcher() {
        let mut f = session_finding(
            &Input {
                all: &[user_session("e1", T0, ROLE_ADMIN)],
                sessions: &Sessions::default(),
                settings: &Settings::default(),
            },
            PRIVILEGED_ACTION_IN_SESSION,
            0,
            T0,
            "x".into(),
        );
        f.source_ips = vec!["198.51.100.7".into()];
        let sup = |rule: Option<&str>, role: Option<&str>, principal: Option<&str>, cidr: Option<&str>| Suppression {
            rule: rule.map(Into::into),
            role: role.map(|r| Pattern::new(r).unwrap()),
            principal: principal.map(|p| Pattern::new(p).unwrap()),
            cidr: cidr.map(|c| Cidr::parse(c).unwrap()),
        };
        let cases = [
            (sup(Some(PRIVILEGED_ACTION_IN_SESSION), None, None, None), true),
            (sup(Some(LONG_ROLE_CHAIN), None, None, None), false),
            (sup(None, Some("Admin"), None, None), true),
            (sup(None, Some("Admin"), Some("bob"), None), false),
            (sup(None, Some("Adm*"), Some("alice"), None), true),
            (sup(None, None, None, Some("198.51.100.0/24")), true),
            (sup(None, None, None, Some("203.0.113.0/24")), false),
        ];
        for (i, (s, want)) in cases.iter().enumerate() {
            assert_eq!(s.matches(&f, None), *want, "case {i}");
        }
        f.source_ips.push("203.0.113.9".into());
        assert!(!cases[5].0.matches(&f, None), "one address outside the CIDR keeps the finding");
    }

    #[test]
    fn baseline_until_drops_earlier_evidence_and_suppressions_are_counted() {
        // A user assumes a sensitive role without MFA twice, an hour apart.
        let mut all = vec![user_session("e1", T0, ROLE_BREAKGLASS), user_session("e2", T0 + 3600, ROLE_BREAKGLASS)];
        all[0].assumption.mfa = false;
        all[1].assumption.mfa = false;
        let sessions = sessions_of(all);
        let d = detect(&sessions, &Settings::default(), None);
        assert_eq!(d.findings.len(), 2);
        let settings = Settings { baseline_until: Some(T0 + 1), ..Settings::default() };
        let d = detect(&sessions, &settings, None);
        assert_eq!(d.findings.len(), 1);
        assert_eq!(d.findings[0].detected_at, T0 + 3600);
        let settings = Settings {
            suppress: vec![Suppression {
                rule: Some(SENSITIVE_ROLE_WITHOUT_MFA.into()),
                role: None,
                principal: Some(Pattern::new("alice").unwrap()),
                cidr: None,
            }],
            ..Settings::default()
        };
        let d = detect(&sessions, &settings, None);
        assert_eq!((d.findings.len(), d.suppressed), (0, 2));
        assert!(!d.reaches(Severity::Low));
    }

    #[test]
    fn flags_by_session_covers_related_sessions() {
        let d = Detection {
            findings: vec![Finding {
                rule: ROLE_ENUMERATION,
                severity: Severity::High,
                detected_at: T0,
                session: None,
                session_arn: None,
                access_key_id: None,
                principal: "p".into(),
                role_arn: None,
                summary: "s".into(),
                event_ids: vec![],
                related_sessions: vec![0, 2],
                source_ips: vec![],
            }],
            ..Detection::default()
        };
        let flags = d.flags_by_session(3);
        assert_eq!(flags, vec![vec![ROLE_ENUMERATION], vec![], vec![ROLE_ENUMERATION]]);
        assert!(d.reaches(Severity::High));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(45), "45s");
        assert_eq!(duration(252), "4m12s");
        assert_eq!(duration(7500), "2h05m");
    }
}
