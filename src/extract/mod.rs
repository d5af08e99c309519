//! Extract: one decoded [`Record`] → the owned, compact facts that session reconstruction needs.
//!
//! Three kinds of fact come out of a record: an [`Assumption`] (an STS call that creates, or failed to
//! create, a session), a [`ConsoleSwitch`] (the `signin` SwitchRole event that accompanies a console role
//! switch) and [`Mark`]s of *activity*: any call made with session-like credentials, grouped by the
//! [`ActivityKey`] (access key, principal ARN, session creation time) that the linker later joins to
//! sessions. A chained AssumeRole is both an assumption and activity of the session that made it.
//! Nothing here looks across records: that is `correlate`'s job, after every file is read.

pub use crate::intern::{Action, Text};

mod activity;
mod event_ids;
use crate::record::Record;
use crate::timefmt;
pub use activity::{merge_shares, Activity, ActivityMap, CallOrder};
pub use event_ids::EventIds;
use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};

/// The STS calls that issue credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub enum AssumeKind {
    #[default]
    AssumeRole,
    AssumeRoleWithSaml,
    AssumeRoleWithWebIdentity,
    GetSessionToken,
    GetFederationToken,
    AssumeRoot,
}

impl AssumeKind {
    pub fn from_event_name(name: &str) -> Option<Self> {
        Some(match name {
            "AssumeRole" => AssumeKind::AssumeRole,
            "AssumeRoleWithSAML" => AssumeKind::AssumeRoleWithSaml,
            "AssumeRoleWithWebIdentity" => AssumeKind::AssumeRoleWithWebIdentity,
            "GetSessionToken" => AssumeKind::GetSessionToken,
            "GetFederationToken" => AssumeKind::GetFederationToken,
            "AssumeRoot" => AssumeKind::AssumeRoot,
            _ => return None,
        })
    }

    pub fn event_name(self) -> &'static str {
        match self {
            AssumeKind::AssumeRole => "AssumeRole",
            AssumeKind::AssumeRoleWithSaml => "AssumeRoleWithSAML",
            AssumeKind::AssumeRoleWithWebIdentity => "AssumeRoleWithWebIdentity",
            AssumeKind::GetSessionToken => "GetSessionToken",
            AssumeKind::GetFederationToken => "GetFederationToken",
            AssumeKind::AssumeRoot => "AssumeRoot",
        }
    }

    /// The longest these credentials can live, for linking activity that carries no creation time.
    pub fn max_lifetime(self) -> i64 {
        match self {
            AssumeKind::AssumeRoot => 900,
            AssumeKind::GetSessionToken | AssumeKind::GetFederationToken => 36 * 3600,
            _ => 12 * 3600,
        }
    }
}

/// The identity that made a call (`userIdentity`), owned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Caller {
    /// `userIdentity.type` as logged (`IAMUser`, `AssumedRole`, `AWSService`, `AWSAccount`, `SAMLUser`, …).
    pub kind: Option<Text>,
    pub arn: Option<Text>,
    pub principal_id: Option<Box<str>>,
    pub account_id: Option<Text>,
    pub access_key_id: Option<Box<str>>,
    pub user_name: Option<Box<str>>,
    pub invoked_by: Option<Text>,
    pub identity_provider: Option<Text>,
    /// `sessionContext.attributes.creationDate`: when the caller's own session began.
    pub created: Option<i64>,
    pub mfa_authenticated: bool,
    pub source_identity: Option<Box<str>>,
    /// `sessionContext.sessionIssuer.arn`: for a role session, the role (with its path).
    pub issuer_arn: Option<Text>,
}

impl Caller {
    fn from_record(r: &Record) -> Self {
        let id = &r.identity;
        let ctx = &id.session;
        Caller {
            kind: id.kind.interned(),
            arn: id.arn.interned(),
            principal_id: id.principal_id.boxed(),
            account_id: id.account_id.interned(),
            access_key_id: id.access_key_id.boxed(),
            user_name: id.user_name.boxed(),
            invoked_by: id.invoked_by.interned(),
            identity_provider: id.identity_provider.interned(),
            created: ctx.attributes.creation_date.get().and_then(timefmt::parse_iso),
            mfa_authenticated: ctx.attributes.mfa_authenticated.is_true(),
            source_identity: ctx.source_identity.boxed(),
            issuer_arn: ctx.issuer.arn.interned(),
        }
    }

    pub fn is(&self, kind: &str) -> bool {
        self.kind.as_deref() == Some(kind)
    }

    /// The key the linker uses to find the session this caller was acting in, if it could be one.
    pub fn activity_key(&self) -> Option<ActivityKey> {
        ActivityKey::new(self.access_key_id.as_deref(), self.arn.as_deref(), self.created)
    }
}

/// One STS call that issued (or failed to issue) temporary credentials.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Assumption {
    pub event_id: String,
    /// [`event_hash`] of the record, to tell assumption records apart from other records in the counts.
    pub hash: u64,
    pub shared_event_id: Option<Box<str>>,
    pub at: i64,
    pub kind: AssumeKind,
    pub region: Option<Text>,
    /// The account whose trail holds this copy of the record.
    pub recipient_account: Option<Text>,
    pub error_code: Option<Text>,
    pub caller: Caller,
    pub role_arn: Option<Text>,
    pub session_name: Option<Box<str>>,
    /// The ARN later calls carry: `assumedRoleUser.arn`, derived for AWS-service assumptions, the user for
    /// GetSessionToken, the federated user for GetFederationToken, the member account's root for AssumeRoot.
    pub session_arn: Option<Box<str>>,
    pub issued_key: Option<Box<str>>,
    pub expires_at: Option<i64>,
    pub source_ip: Option<Text>,
    pub user_agent: Option<Text>,
    pub mfa: bool,
    pub source_identity: Option<Box<str>>,
    /// The SAML or web-identity subject (`alice@example.com`, `repo:org/app:ref:refs/heads/main`).
    pub subject: Option<Box<str>>,
    /// The SAML or OIDC provider that vouched for the subject.
    pub provider: Option<Text>,
    pub external_id: bool,
    pub session_policy: bool,
    pub duration_seconds: Option<i64>,
    /// Made by the console on a user's behalf (`AWS Internal`): the AssumeRole half of a console role switch.
    pub by_console: bool,
    /// A role assumed itself through the legacy implicit self-trust, not its trust policy
    /// (`additionalEventData.explicitTrustGrant: false`). Absent from assumptions saved before it existed.
    #[serde(default)]
    pub implicit_trust: bool,
}

impl Assumption {
    pub fn success(&self) -> bool {
        self.error_code.is_none()
    }
}

/// The `signin.amazonaws.com` `SwitchRole` event of a console role switch, logged in the role's account
/// with the browser's address and the user it switched from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsoleSwitch {
    pub event_id: String,
    pub hash: u64,
    pub at: i64,
    pub session_arn: Option<String>,
    pub switch_from: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub success: bool,
    pub mfa_authenticated: bool,
}

/// What identifies the credentials a call was made with: the access key, the principal ARN and the
/// session's creation time. Any part may be missing (console SwitchRole has no key, some records have no
/// `sessionContext`), so the linker matches on what is there.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ActivityKey {
    pub key: Option<Box<str>>,
    pub arn: Option<Box<str>>,
    pub created: Option<i64>,
}

impl ActivityKey {
    /// A key for credentials that could belong to a session: an access key, or an ARN with a creation time.
    pub fn new(key: Option<&str>, arn: Option<&str>, created: Option<i64>) -> Option<Self> {
        if key.is_none() && (arn.is_none() || created.is_none()) {
            return None;
        }
        Some(ActivityKey { key: key.map(Into::into), arn: arn.map(Into::into), created })
    }
}

/// How a call failed, if it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub enum Failure {
    #[default]
    None,
    /// AccessDenied, UnauthorizedOperation and their kin: the caller lacked permission.
    Denied,
    Other,
}

impl Failure {
    pub fn of(error_code: Option<&str>) -> Self {
        match error_code {
            None => Failure::None,
            Some(code) if is_access_denied(code) => Failure::Denied,
            Some(_) => Failure::Other,
        }
    }
}

/// Error codes that mean "not allowed" across services (`AccessDenied`, `AccessDeniedException`,
/// `Client.UnauthorizedOperation`, `UnauthorizedAccess`, `Forbidden`, …).
pub fn is_access_denied(code: &str) -> bool {
    let c = code.to_ascii_lowercase();
    c.contains("accessdenied") || c.contains("unauthorized") || c.contains("forbidden") || c == "authfailure"
}

/// One call made with some credentials, in 24 bytes, since there is one per call in the input (a million
/// calls, 24 MB): the time shares a word with the failure and flags. Built from, and saved as, its
/// [`MarkFields`]. Ordered by event id hash first, so that sorting makes duplicates adjacent. A notable
/// call's event id is kept by its activity ([`EventIds`]), found by `id`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "MarkFields", into = "MarkFields")]
pub struct Mark {
    /// A hash of `eventID` ([`id_hash`]), for de-duplication.
    pub id: u64,
    /// `eventTime` shifted left by [`FLAG_BITS`], with the failure and the flags below it.
    time_and_flags: i64,
    pub action: Action,
    /// `sourceIPAddress` (empty when absent).
    pub ip: Text,
}

/// A [`Mark`]'s fields, unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MarkFields {
    pub id: u64,
    pub at: i64,
    pub action: Action,
    pub ip: Text,
    pub failure: Failure,
    /// The call is itself an assumption (a chained AssumeRole): counted as activity of its caller's session.
    pub is_assumption: bool,
    /// The call grants access or blinds logging ([`PRIVILEGED_ACTIONS`]; `PutEventSelectors` only when it
    /// drops management events).
    pub privileged: bool,
    /// AWS made the call on the credentials' behalf (`invokedBy` set, or a user agent of `AWS Internal` or
    /// `aws-internal/…`, as when Lambda decrypts a function's environment): its address is AWS's, not the
    /// holder's, and its errors are AWS's business.
    pub by_aws: bool,
    /// The call turned the credentials into a console session (`signin.amazonaws.com` GetSigninToken) with
    /// a user agent other than the Identity Center portal's ([`is_console_sign_in`]). Absent from marks
    /// saved before it existed.
    #[serde(default)]
    pub console_sign_in: bool,
    /// The call's user agent names an attack tool ([`is_attack_tool`]). Absent from marks saved before it
    /// existed.
    #[serde(default)]
    pub attack_tool: bool,
}

/// The low bits of [`Mark::time_and_flags`] that hold the failure (two bits) and the five flags.
const FLAG_BITS: u32 = 8;
const IS_ASSUMPTION: i64 = 1 << 2;
const PRIVILEGED: i64 = 1 << 3;
const BY_AWS: i64 = 1 << 4;
const CONSOLE_SIGN_IN: i64 = 1 << 5;
const ATTACK_TOOL: i64 = 1 << 6;

/// The times a [`Mark`] holds: ±2^55 seconds, a billion years either way. `eventTime` parses to far less
/// (`timefmt` reads at most nine digits of year); anything beyond is held at the bound.
const MARK_TIMES: std::ops::RangeInclusive<i64> = (i64::MIN >> FLAG_BITS)..=(i64::MAX >> FLAG_BITS);

impl From<MarkFields> for Mark {
    fn from(f: MarkFields) -> Mark {
        let failure = match f.failure {
            Failure::None => 0,
            Failure::Denied => 1,
            Failure::Other => 2,
        };
        let flags = failure
            | if f.is_assumption { IS_ASSUMPTION } else { 0 }
            | if f.privileged { PRIVILEGED } else { 0 }
            | if f.by_aws { BY_AWS } else { 0 }
            | if f.console_sign_in { CONSOLE_SIGN_IN } else { 0 }
            | if f.attack_tool { ATTACK_TOOL } else { 0 };
        let at = f.at.clamp(*MARK_TIMES.start(), *MARK_TIMES.end());
        Mark { id: f.id, time_and_flags: (at << FLAG_BITS) | flags, action: f.action, ip: f.ip }
    }
}

impl From<Mark> for MarkFields {
    fn from(m: Mark) -> MarkFields {
        MarkFields {
            id: m.id,
            at: m.at(),
            action: m.action,
            ip: m.ip,
            failure: m.failure(),
            is_assumption: m.is_assumption(),
            privileged: m.privileged(),
            by_aws: m.by_aws(),
            console_sign_in: m.console_sign_in(),
            attack_tool: m.attack_tool(),
        }
    }
}

impl Mark {
    /// `eventTime`, in seconds.
    pub fn at(&self) -> i64 {
        self.time_and_flags >> FLAG_BITS
    }

    pub fn failure(&self) -> Failure {
        match self.time_and_flags & 3 {
            0 => Failure::None,
            1 => Failure::Denied,
            _ => Failure::Other,
        }
    }

    /// See [`MarkFields::is_assumption`].
    pub fn is_assumption(&self) -> bool {
        self.time_and_flags & IS_ASSUMPTION != 0
    }

    /// See [`MarkFields::privileged`].
    pub fn privileged(&self) -> bool {
        self.time_and_flags & PRIVILEGED != 0
    }

    /// See [`MarkFields::by_aws`].
    pub fn by_aws(&self) -> bool {
        self.time_and_flags & BY_AWS != 0
    }

    /// See [`MarkFields::console_sign_in`].
    pub fn console_sign_in(&self) -> bool {
        self.time_and_flags & CONSOLE_SIGN_IN != 0
    }

    /// See [`MarkFields::attack_tool`].
    pub fn attack_tool(&self) -> bool {
        self.time_and_flags & ATTACK_TOOL != 0
    }

    /// A call that findings may cite whatever else the session did (failed, an assumption, privileged, a
    /// console sign-in, by an attack tool): its event id is always kept. Of the others, only the first call
    /// from each address keeps its id.
    pub fn is_notable(&self) -> bool {
        self.failure() != Failure::None
            || self.is_assumption()
            || self.privileged()
            || self.console_sign_in()
            || self.attack_tool()
    }
}

impl std::fmt::Debug for Mark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        MarkFields::from(*self).fmt(f)
    }
}

/// API calls that grant access or blind logging, by service: their event ids are always kept, and the
/// detections look for them.
pub const PRIVILEGED_ACTIONS: [(&str, &[&str]); 3] = [
    (
        "iam.amazonaws.com",
        &[
            "CreateUser",
            "CreateAccessKey",
            "CreateLoginProfile",
            "UpdateLoginProfile",
            "AttachUserPolicy",
            "AttachRolePolicy",
            "AttachGroupPolicy",
            "PutUserPolicy",
            "PutRolePolicy",
            "PutGroupPolicy",
            "AddUserToGroup",
            "UpdateAssumeRolePolicy",
            "CreateRole",
            "CreatePolicyVersion",
            "SetDefaultPolicyVersion",
            "CreateVirtualMFADevice",
            "DeactivateMFADevice",
        ],
    ),
    ("cloudtrail.amazonaws.com", &["StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors"]),
    ("sts.amazonaws.com", &["AssumeRoot"]),
];

pub fn is_privileged(source: &str, name: &str) -> bool {
    // Every call is asked: grouped by service, most calls are told apart by three compares.
    PRIVILEGED_ACTIONS.iter().any(|(s, names)| *s == source && names.contains(&name))
}

/// Whether a call grants access or blinds logging. `PutEventSelectors` is routine when it only adds data
/// events, so it counts only when its request drops management events (or does not say what it sets).
fn is_privileged_call(r: &Record, source: &str, name: &str) -> bool {
    if source == "cloudtrail.amazonaws.com" && name == "PutEventSelectors" {
        return r.request.management_logging().is_none_or(|m| m.drops_management_events());
    }
    is_privileged(source, name)
}

/// Whether a call turned its credentials into a console session other than through the Identity Center
/// portal: `GetSigninToken` on the federation endpoint, which the portal calls with the user agent
/// `Jersey/${project.version} …` and tools that open a console from CLI or stolen credentials (aws_consoler,
/// Pacu, aws-vault login) call with their own.
fn is_console_sign_in(source: &str, name: &str, user_agent: Option<&str>) -> bool {
    source == "signin.amazonaws.com"
        && name == "GetSigninToken"
        && !user_agent.is_some_and(|ua| ua.starts_with("Jersey/${project.version}"))
}

/// Whether a user agent names an attack tool: TruffleHog, which checks the keys it finds with
/// GetCallerIdentity (`TruffleHog`, `trufflehog/3.63.0`), or a penetration-testing distribution as the
/// operating system the CLI or an SDK reports (`Linux/6.6.9-amd64-kali`, `os/linux#6.5.0-kali3-amd64`,
/// `md/distrib#kali.2024`): Kali, Parrot and Pentoo, which GuardDuty's PenTest findings name. Asked of every
/// call, so a user agent without any of the names costs four searches and nothing more.
pub fn is_attack_tool(user_agent: &str) -> bool {
    use memchr::memmem::Finder;
    static NAMES: std::sync::LazyLock<[Finder<'static>; 4]> = std::sync::LazyLock::new(|| {
        [Finder::new(b"ruffle"), Finder::new(b"kali"), Finder::new(b"parrot"), Finder::new(b"pentoo")]
    });
    let [truffle, distributions @ ..] = &*NAMES;
    let ua = user_agent.as_bytes();
    if truffle.find(ua).is_some() && ua.windows(10).any(|w| w.eq_ignore_ascii_case(b"trufflehog")) {
        return true;
    }
    if distributions.iter().all(|d| d.find(ua).is_none()) {
        return false;
    }
    // Named by the operating system, not, say, by an application called `kalimba`.
    user_agent.split(' ').any(|token| {
        let os = ["Linux/", "linux/", "os/linux"].iter().any(|p| token.starts_with(p)) || token.contains("distrib");
        os && distributions.iter().any(|d| d.find(token.as_bytes()).is_some())
    })
}

/// Whether AWS made a call on the credentials' behalf rather than their holder (see [`Mark::by_aws`]).
fn made_by_aws(r: &Record) -> bool {
    r.identity.invoked_by.get().is_some()
        || r.user_agent.get().is_some_and(|ua| ua == "AWS Internal" || ua.starts_with("aws-internal/"))
}

/// Which records to keep, by event time (inclusive `since`, exclusive `until`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TimeWindow {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

impl TimeWindow {
    pub fn contains(&self, t: i64) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

/// Everything extracted from some records: one file's worth while it is read (merged into the run's
/// totals only if the whole file decoded), then the whole run's.
#[derive(Debug, Default)]
pub struct Facts {
    /// Boxed: an assumption is large, and correlation sorts and regroups them.
    pub assumptions: Vec<Box<Assumption>>,
    pub switches: Vec<ConsoleSwitch>,
    /// The activity this thread's records added to, by key.
    pub activity: ActivityMap,
    /// Other threads' activity, absorbed as it was read: a key read by several threads is in several of
    /// these maps (and maybe in `activity`). Merging them key by key cost a whole hash table's rebuild on
    /// one core while the others waited; correlation sorts every entry by key anyway, and merges repeats
    /// there. Read through [`Facts::activity_entries`].
    pub more_activity: Vec<ActivityMap>,
    /// The id hash of every record this thread kept that is not a call in `activity` (a [`Mark`] holds its
    /// own), for counting unique records and duplicates. A million ids are 8 MB held until correlation, and
    /// nearly every record is such a call.
    pub ids: Vec<u64>,
    /// Other threads' id hashes, absorbed as they were read. Appending them to `ids` held both copies at
    /// once, at the moment memory peaks (the end of reading); correlation counts across the lists.
    pub more_ids: Vec<Vec<u64>>,
    /// Records dropped because their `eventTime` is missing or unreadable, with the first example.
    pub invalid_records: u64,
    pub first_invalid: Option<String>,
    /// Records outside `--since`/`--until`.
    pub outside_window: u64,
    /// The accounts whose logs were read (`recipientAccountId`), window or not: the organisation, for
    /// the detections.
    pub accounts: std::collections::BTreeSet<String>,
    /// The earliest and latest `eventTime` among the records kept: the time range a report covers.
    pub first_at: Option<i64>,
    pub last_at: Option<i64>,
    /// The file being read (counts up from 1 with each [`Facts::begin_file`]); 0 before any.
    epoch: u32,
    /// Accounts first seen in the file being read, to undo it.
    new_accounts: Vec<String>,
    /// The account of the last record added in the file being read: already in `accounts`.
    last_account: Option<String>,
}

/// Where a [`Facts`] stood before a file was added to it: what [`Facts::end_file`] returns it to when the
/// file turns out to be unreadable, so that a bad file contributes nothing.
#[derive(Debug)]
pub struct Checkpoint {
    assumptions: usize,
    switches: usize,
    ids: usize,
    invalid_records: u64,
    outside_window: u64,
    first_invalid: Option<String>,
    first_at: Option<i64>,
    last_at: Option<i64>,
}

impl Facts {
    /// Adds another set of facts to this one (files merged in any order give the same totals).
    pub fn absorb(&mut self, other: Facts) {
        let first_at = min_some(self.first_at, other.first_at);
        let last_at = self.last_at.max(other.last_at);
        if self.id_lists().all(<[u64]>::is_empty)
            && self.assumptions.is_empty()
            && self.activity_entries().next().is_none()
        {
            let (invalid, first, outside) = (self.invalid_records, self.first_invalid.take(), self.outside_window);
            let accounts = std::mem::take(&mut self.accounts);
            *self = other;
            self.invalid_records += invalid;
            self.first_invalid = first.or(self.first_invalid.take());
            self.outside_window += outside;
            self.accounts.extend(accounts);
            (self.first_at, self.last_at) = (first_at, last_at);
            return;
        }
        self.accounts.extend(other.accounts);
        (self.first_at, self.last_at) = (first_at, last_at);
        self.invalid_records += other.invalid_records;
        self.outside_window += other.outside_window;
        if self.first_invalid.is_none() {
            self.first_invalid = other.first_invalid;
        }
        // The run's totals are merged on one thread while the others wait: activity maps are kept whole
        // (see `more_activity`), lists are appended.
        let maps = std::iter::once(other.activity).chain(other.more_activity);
        self.more_activity.extend(maps.filter(|map| !map.is_empty()));
        self.assumptions.extend(other.assumptions);
        self.switches.extend(other.switches);
        let ids = std::iter::once(other.ids).chain(other.more_ids);
        self.more_ids.extend(ids.filter(|ids| !ids.is_empty()));
    }

    /// Every id hash kept, in one list per thread.
    pub fn id_lists(&self) -> impl Iterator<Item = &[u64]> {
        std::iter::once(&self.ids).chain(&self.more_ids).map(Vec::as_slice)
    }

    /// Every activity entry: a key read by several threads comes once per thread, each with its share of
    /// the calls.
    pub fn activity_entries(&self) -> impl Iterator<Item = (&ActivityKey, &Activity)> {
        std::iter::once(&self.activity).chain(&self.more_activity).flat_map(|map| map.iter()).map(|(k, a)| (k, &**a))
    }

    /// Starts adding one file's records straight into these facts (no per-file copy to merge later).
    /// Until [`Facts::end_file`], `invalid_records` minus the checkpoint's and `first_invalid` describe
    /// this file alone.
    pub fn begin_file(&mut self) -> Checkpoint {
        self.epoch += 1;
        self.new_accounts.clear();
        self.last_account = None;
        Checkpoint {
            assumptions: self.assumptions.len(),
            switches: self.switches.len(),
            ids: self.ids.len(),
            invalid_records: self.invalid_records,
            outside_window: self.outside_window,
            first_invalid: self.first_invalid.take(),
            first_at: self.first_at,
            last_at: self.last_at,
        }
    }

    /// The records skipped in the file being read, and the first reason.
    pub fn file_invalid(&self, cp: &Checkpoint) -> (u64, Option<&str>) {
        (self.invalid_records - cp.invalid_records, self.first_invalid.as_deref())
    }

    /// Ends a file: keeps what it added, or (`keep == false`) removes every trace of it.
    pub fn end_file(&mut self, cp: Checkpoint, keep: bool) {
        if keep {
            self.first_invalid = cp.first_invalid.or(self.first_invalid.take());
            return;
        }
        self.assumptions.truncate(cp.assumptions);
        self.switches.truncate(cp.switches);
        self.ids.truncate(cp.ids);
        (self.invalid_records, self.outside_window) = (cp.invalid_records, cp.outside_window);
        self.first_invalid = cp.first_invalid;
        (self.first_at, self.last_at) = (cp.first_at, cp.last_at);
        for acct in self.new_accounts.drain(..) {
            self.accounts.remove(&acct);
        }
        self.last_account = None;
        let epoch = self.epoch;
        // Rare (only unreadable files), so a pass over every activity is fine.
        self.activity.retain(|_, act| act.undo_file(epoch));
    }

    /// Extracts the facts of one record.
    pub fn add(&mut self, r: &Record, window: TimeWindow) {
        if let Some(acct) = r.recipient_account.get() {
            // Almost every record of a file names the same account as the one before.
            if self.last_account.as_deref() != Some(acct) {
                if !self.accounts.contains(acct) {
                    self.accounts.insert(acct.to_owned());
                    if self.epoch > 0 {
                        self.new_accounts.push(acct.to_owned());
                    }
                }
                self.last_account = Some(acct.to_owned());
            }
        }
        let Some(at) = r.time_text().and_then(timefmt::parse_iso) else {
            self.invalid_records += 1;
            if self.first_invalid.is_none() {
                self.first_invalid = Some(match r.time_text() {
                    Some(t) => format!("eventTime {t:?} is not a timestamp"),
                    None => "a record has no readable eventTime".to_owned(),
                });
            }
            return;
        };
        if !window.contains(at) {
            self.outside_window += 1;
            return;
        }
        let id = event_hash(r);
        self.first_at = min_some(self.first_at, Some(at));
        self.last_at = self.last_at.max(Some(at));
        let source = r.event_source.get().unwrap_or("");
        let name = r.event_name.get().unwrap_or("");
        let mut is_assumption = false;
        if source == "sts.amazonaws.com" {
            if let Some(kind) = AssumeKind::from_event_name(name) {
                self.assumptions.push(Box::new(assumption(r, kind, at)));
                is_assumption = true;
            }
        } else if source == "signin.amazonaws.com" && name == "SwitchRole" {
            self.switches.push(switch(r, at));
            self.ids.push(id);
            return;
        }
        let ident = &r.identity;
        let created = ident.session.attributes.creation_date.get().and_then(timefmt::parse_iso);
        let (key, arn) = (ident.access_key_id.get(), ident.arn.get());
        if key.is_none() && (arn.is_none() || created.is_none()) {
            self.ids.push(id);
            return;
        }
        let probe = KeyRef { key, arn, created };
        let epoch = self.epoch;
        let (kind, issuer_arn) = (ident.kind.get(), ident.session.issuer.arn.get());
        let act = match self.activity.get_mut(&probe) {
            Some(a) => {
                a.touch(epoch);
                a.settle_identity(kind, issuer_arn);
                a
            }
            None => {
                let key = ActivityKey::new(key, arn, created).expect("checked above");
                self.activity.entry(key).or_insert_with(|| Activity::created_by(epoch, kind, issuer_arn))
            }
        };
        act.instance_credentials |= ident.session.ec2_role_delivery.get().is_some();
        let action = Action::new(source, name);
        let ip = Text::new(r.source_ip.get().unwrap_or(""));
        let new_ip = act.note_ip(ip, (at, action, id));
        let failure = Failure::of(r.error_code.get());
        let privileged = is_privileged_call(r, source, name);
        let console_sign_in = is_console_sign_in(source, name, r.user_agent.get());
        let attack_tool = r.user_agent.get().is_some_and(is_attack_tool);
        let by_aws = made_by_aws(r);
        let mark: Mark =
            MarkFields { id, at, action, ip, failure, is_assumption, privileged, by_aws, console_sign_in, attack_tool }
                .into();
        if let (true, Some(eid)) = (new_ip || mark.is_notable(), r.event_id.get()) {
            act.event_ids.push(id, eid);
        }
        activity::push_snug(&mut act.marks, mark);
    }
}

/// The smaller of two optional times, either being absent.
fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A borrowed view of an [`ActivityKey`], so looking up an existing key allocates nothing.
#[derive(Hash)]
struct KeyRef<'a> {
    key: Option<&'a str>,
    arn: Option<&'a str>,
    created: Option<i64>,
}

impl hashbrown::Equivalent<ActivityKey> for KeyRef<'_> {
    fn equivalent(&self, k: &ActivityKey) -> bool {
        self.key == k.key.as_deref() && self.arn == k.arn.as_deref() && self.created == k.created
    }
}

// `KeyRef` must hash exactly as `ActivityKey` does: `Option<&str>` and `Option<Box<str>>` hash alike.
// `is_privileged` looks by service first: every action in the list must still pass it.
#[cfg(test)]
#[test]
fn every_privileged_action_is_recognised() {
    for (source, names) in PRIVILEGED_ACTIONS {
        for name in names {
            assert!(is_privileged(source, name), "{source} {name}");
        }
    }
    assert!(!is_privileged("kms.amazonaws.com", "CreateUser"));
}

#[cfg(test)]
#[test]
fn attack_tools_are_told_by_their_user_agents() {
    let tools = [
        "TruffleHog",
        "trufflehog/3.63.0",
        "aws-cli/2.15.0 Python/3.11.8 Linux/6.6.9-amd64-kali exe/x86_64.kali.2024 prompt/off",
        "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.5.0-kali3-amd64 md/arch#x86_64 lang/python#3.11.8",
        "aws-cli/2.15.0 md/distrib#parrot.6.0 prompt/off",
        "aws-sdk-go/1.44.0 (go1.21; linux; amd64) Linux/6.1.0-pentoo",
    ];
    for ua in tools {
        assert!(is_attack_tool(ua), "{ua}");
    }
    let ordinary = [
        "aws-cli/2.15.0 Python/3.11.8 Linux/5.15.0-1051-aws exe/x86_64.ubuntu.22 prompt/off",
        "kalimba-uploader/1.0 Linux/5.15.0",
        "console.amazonaws.com",
        "AWS Internal",
        "",
    ];
    for ua in ordinary {
        assert!(!is_attack_tool(ua), "{ua}");
    }
}

#[cfg(test)]
#[test]
fn key_ref_hashes_like_activity_key() {
    use std::hash::BuildHasher;
    let s = hashbrown::DefaultHashBuilder::default();
    let k = ActivityKey::new(Some("ASIA1"), Some("arn:x"), Some(5)).unwrap();
    assert_eq!(s.hash_one(&k), s.hash_one(KeyRef { key: Some("ASIA1"), arn: Some("arn:x"), created: Some(5) }));
}

/// A 64-bit FNV-1a hash of the event id (or, for records without one, of the fields that identify it).
pub fn event_hash(r: &Record) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    match r.event_id.get() {
        Some(id) => h.write(id.as_bytes()),
        None => {
            for part in
                [r.time_text(), r.event_source.get(), r.event_name.get(), r.request_id.get(), r.identity.arn.get()]
            {
                h.write(part.unwrap_or("").as_bytes());
                h.write(&[0xff]);
            }
        }
    }
    h.finish()
}

/// A hash of an event id string, matching [`event_hash`] for records that have one.
pub fn id_hash(event_id: &str) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.write(event_id.as_bytes());
    h.finish()
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

fn assumption(r: &Record, kind: AssumeKind, at: i64) -> Assumption {
    let caller = Caller::from_record(r);
    let req = &r.request;
    let resp = &r.response;
    let role_arn = match kind {
        AssumeKind::GetSessionToken | AssumeKind::GetFederationToken => None,
        AssumeKind::AssumeRoot => req.target_principal.get().map(|t| root_arn_of(t, caller.arn.as_deref()).into()),
        _ => req
            .role_arn
            .interned()
            .or_else(|| r.resources.role_arn.interned())
            .or_else(|| r.error_message.get().and_then(role_from_error).map(Text::from)),
    };
    let session_name = match kind {
        AssumeKind::GetFederationToken => req.name.boxed(),
        AssumeKind::GetSessionToken | AssumeKind::AssumeRoot => None,
        _ => req.role_session_name.boxed(),
    };
    let session_arn = match kind {
        AssumeKind::GetSessionToken => caller.arn.map(|a| a.as_str().into()),
        AssumeKind::GetFederationToken => resp.federated_user.arn.boxed().or_else(|| {
            let acct = caller.account_id.as_deref()?;
            Some(
                format!(
                    "arn:{}:sts::{acct}:federated-user/{}",
                    partition(caller.arn.as_deref()),
                    session_name.as_deref()?
                )
                .into(),
            )
        }),
        AssumeKind::AssumeRoot => role_arn.map(|a| a.as_str().into()),
        _ => resp
            .assumed_role_user
            .arn
            .boxed()
            .or_else(|| Some(session_arn_for(role_arn.as_deref()?, session_name.as_deref()?)?.into())),
    };
    let (subject, provider) = match kind {
        AssumeKind::AssumeRoleWithSaml => (
            resp.subject.boxed().or_else(|| caller.user_name.clone()),
            req.principal_arn.interned().or(caller.identity_provider),
        ),
        AssumeKind::AssumeRoleWithWebIdentity => (
            resp.subject_from_web_identity_token.boxed().or_else(|| caller.user_name.clone()),
            caller.identity_provider.or_else(|| resp.provider.interned()),
        ),
        _ => (None, None),
    };
    let source_ip = r.source_ip.interned();
    let user_agent = r.user_agent.interned();
    let by_console = kind == AssumeKind::AssumeRole
        && user_agent.as_deref() == Some("AWS Internal")
        && (caller.invoked_by.as_deref() == Some("AWS Internal") || caller.is("AWSAccount"));
    Assumption {
        event_id: r.event_id.owned().unwrap_or_else(|| format!("{:016x}", event_hash(r))),
        hash: event_hash(r),
        shared_event_id: r.shared_event_id.boxed(),
        at,
        kind,
        region: r.region.interned(),
        recipient_account: r.recipient_account.interned(),
        error_code: r.error_code.interned(),
        role_arn,
        session_name,
        session_arn,
        issued_key: resp.credentials.access_key_id.boxed(),
        expires_at: resp.credentials.expiration.get().and_then(timefmt::parse_expiration),
        source_ip,
        user_agent,
        mfa: req.serial_number.get().is_some() || caller.mfa_authenticated,
        source_identity: req
            .source_identity
            .boxed()
            .or_else(|| resp.source_identity.boxed())
            .or_else(|| caller.source_identity.clone()),
        subject,
        provider,
        external_id: req.external_id.get().is_some(),
        session_policy: req.policy.0 || req.policy_arns.0,
        duration_seconds: req.duration_seconds.get().and_then(|d| d.parse().ok()),
        by_console,
        implicit_trust: r.additional.explicit_trust_grant.is("false"),
        caller,
    }
}

fn switch(r: &Record, at: i64) -> ConsoleSwitch {
    ConsoleSwitch {
        event_id: r.event_id.owned().unwrap_or_else(|| format!("{:016x}", event_hash(r))),
        hash: event_hash(r),
        at,
        session_arn: r.identity.arn.owned(),
        switch_from: r.additional.switch_from.owned(),
        source_ip: r.source_ip.owned(),
        user_agent: r.user_agent.owned(),
        account: r.recipient_account.owned().or_else(|| r.identity.account_id.owned()),
        region: r.region.owned(),
        success: r.error_code.get().is_none()
            && r.response.switch_role.get().is_none_or(|v| v.eq_ignore_ascii_case("success")),
        mfa_authenticated: r.identity.session.attributes.mfa_authenticated.is_true(),
    }
}

/// The partition (`aws`, `aws-us-gov`, `aws-cn`) of an ARN, `aws` when unknown.
pub fn partition(arn: Option<&str>) -> &str {
    arn.and_then(|a| a.split(':').nth(1)).filter(|p| !p.is_empty()).unwrap_or("aws")
}

/// The account field of an ARN (`arn:aws:iam::123456789012:role/x` → `123456789012`).
pub fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// The role's name without its path (`arn:aws:iam::1:role/service-role/x` → `x`).
pub fn role_name(role_arn: &str) -> &str {
    let resource = role_arn.splitn(6, ':').nth(5).unwrap_or(role_arn);
    resource.rsplit('/').next().unwrap_or(resource)
}

/// The session ARN CloudTrail shows for calls made with a role session: the role's path is dropped.
pub fn session_arn_for(role_arn: &str, session_name: &str) -> Option<String> {
    let mut parts = role_arn.splitn(6, ':');
    let (_arn, part, _svc, _region, acct, resource) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    resource
        .starts_with("role/")
        .then(|| format!("arn:{part}:sts::{acct}:assumed-role/{}/{session_name}", role_name(role_arn)))
}

/// `targetPrincipal` of AssumeRoot (an account id or an ARN) → the member account's root ARN.
fn root_arn_of(target: &str, caller_arn: Option<&str>) -> String {
    let acct = if target.starts_with("arn:") { account_of(target).unwrap_or(target) } else { target };
    format!("arn:{}:iam::{acct}:root", partition(caller_arn))
}

/// The role a denied AssumeRole was aimed at, from `... sts:AssumeRole on resource: arn:aws:iam::1:role/x`.
fn role_from_error(msg: &str) -> Option<String> {
    let at = msg.find("on resource: ")? + "on resource: ".len();
    let arn: &str = msg[at..].split(|c: char| c.is_whitespace() || c == '"' || c == ',').next()?;
    let arn = arn.trim_end_matches(['.', ';', ')']);
    (arn.starts_with("arn:") && arn.contains(":role/")).then(|| arn.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(json: &str) -> Record<'_> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn arn_helpers() {
        assert_eq!(role_name("arn:aws:iam::1:role/service-role/level1"), "level1");
        assert_eq!(
            session_arn_for("arn:aws-us-gov:iam::123:role/MyApp/MyS3Access", "s").as_deref(),
            Some("arn:aws-us-gov:sts::123:assumed-role/MyS3Access/s")
        );
        assert_eq!(session_arn_for("arn:aws:iam::123:user/bob", "s"), None);
        assert_eq!(
            role_from_error("User: arn:aws:iam::1:user/u is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::2:role/Admin")
                .as_deref(),
            Some("arn:aws:iam::2:role/Admin")
        );
        assert_eq!(root_arn_of("arn:aws:iam::222233334444:root", None), "arn:aws:iam::222233334444:root");
        assert_eq!(root_arn_of("222233334444", Some("arn:aws-cn:iam::1:user/x")), "arn:aws-cn:iam::222233334444:root");
    }

    #[test]
    fn service_assumption_derives_the_session_arn() {
        let r = rec(r#"{"eventTime":"2018-11-28T23:03:12Z","eventSource":"sts.amazonaws.com","eventName":"AssumeRole",
            "userIdentity":{"type":"AWSService","invokedBy":"lambda.amazonaws.com"},"eventID":"e1","sharedEventID":"s1",
            "requestParameters":{"roleArn":"arn:aws:iam::653711331788:role/service-role/level1","roleSessionName":"level1"},
            "responseElements":{"credentials":{"accessKeyId":"ASIAZQNB3KHGIGYQXVVG","sessionToken":"SECRET","expiration":"Nov 29, 2018 11:03:12 AM"}}}"#);
        let mut f = Facts::default();
        f.add(&r, TimeWindow::default());
        let a = &f.assumptions[0];
        assert_eq!(a.session_arn.as_deref(), Some("arn:aws:sts::653711331788:assumed-role/level1/level1"));
        assert_eq!(a.issued_key.as_deref(), Some("ASIAZQNB3KHGIGYQXVVG"));
        assert_eq!(a.expires_at.map(timefmt::format_rfc3339).as_deref(), Some("2018-11-29T11:03:12Z"));
        assert!(f.activity.is_empty(), "a service's own call is not activity of any session");
        assert!(!format!("{a:?}").contains("SECRET"));
    }

    #[test]
    fn failed_assumption_names_the_role_from_the_error() {
        let r = rec(r#"{"eventTime":"2026-11-20T10:00:00Z","eventSource":"sts.amazonaws.com","eventName":"AssumeRole",
            "errorCode":"AccessDenied","errorMessage":"User: arn:aws:iam::1:user/u is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::1:role/Admin",
            "requestParameters":null,"responseElements":null,
            "userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/u","accessKeyId":"AKIAX"}}"#);
        let mut f = Facts::default();
        f.add(&r, TimeWindow::default());
        let a = &f.assumptions[0];
        assert_eq!(a.role_arn.as_deref(), Some("arn:aws:iam::1:role/Admin"));
        assert!(!a.success());
        assert_eq!(f.activity.len(), 1, "the caller's own key is activity (of no session, here)");
    }

    #[test]
    fn activity_groups_by_key_arn_and_creation() {
        let mut f = Facts::default();
        for (id, key, ip, err) in
            [("1", "ASIA1", "1.1.1.1", ""), ("2", "ASIA1", "2.2.2.2", "AccessDenied"), ("3", "ASIA2", "1.1.1.1", "")]
        {
            let json = format!(
                r#"{{"eventID":"{id}","eventTime":"2026-11-20T10:00:0{id}Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets",
                "sourceIPAddress":"{ip}","errorCode":{err},
                "userIdentity":{{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/r/s","accessKeyId":"{key}",
                "sessionContext":{{"attributes":{{"creationDate":"2026-11-20T09:59:00Z"}}}}}}}}"#,
                err = if err.is_empty() { "null".to_string() } else { format!("\"{err}\"") }
            );
            f.add(&rec(&json), TimeWindow::default());
        }
        assert_eq!(f.activity.len(), 2);
        let k = ActivityKey::new(
            Some("ASIA1"),
            Some("arn:aws:sts::1:assumed-role/r/s"),
            timefmt::parse_iso("2026-11-20T09:59:00Z"),
        )
        .unwrap();
        let a = &f.activity[&k];
        assert_eq!(a.marks.len(), 2);
        assert_eq!(a.marks[0].action, a.marks[1].action);
        assert_eq!(a.ips.len(), 2);
        assert_eq!(a.marks[1].failure(), Failure::Denied);
    }

    #[test]
    fn time_window_and_bad_times() {
        let mut f = Facts::default();
        let w = TimeWindow { since: timefmt::parse_iso("2026-11-20T00:00:00Z"), until: None };
        f.add(&rec(r#"{"eventName":"X","eventTime":"2026-11-19T10:00:00Z"}"#), w);
        f.add(&rec(r#"{"eventName":"X","eventTime":"yesterday"}"#), w);
        f.add(&rec(r#"{"eventName":"X","eventTime":"2026-11-20T10:00:00Z"}"#), w);
        // The record kept has no credentials, so it is no call of any activity: its id is listed on its own.
        assert_eq!((f.outside_window, f.invalid_records, f.ids.len()), (1, 1, 1));
        assert!(f.first_invalid.unwrap().contains("yesterday"));
    }

    /// What a file undone must leave exactly as it was: everything but the undo bookkeeping.
    fn summary(f: &Facts) -> String {
        let mut acts: Vec<String> = f
            .activity
            .iter()
            .map(|(k, a)| {
                format!(
                    "{k:?} {:?} {:?} {:?} {:?} {:?} {}",
                    a.ips, a.marks, a.event_ids, a.identity_type, a.issuer_arn, a.instance_credentials
                )
            })
            .collect();
        acts.sort();
        format!(
            "{:?} {:?} {:?} {} {} {:?} {:?} {:?} {:?} {acts:?}",
            f.assumptions,
            f.switches,
            f.ids,
            f.invalid_records,
            f.outside_window,
            f.first_invalid,
            f.accounts,
            f.first_at,
            f.last_at
        )
    }

    #[test]
    fn an_undone_file_leaves_no_trace() {
        let session = r#""userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/R/s","accessKeyId":"ASIA1",
            "sessionContext":{"attributes":{"creationDate":"2026-11-20T09:00:00Z"}}}"#;
        // The same session, its records naming an issuer (which the first file's did not).
        let issued =
            session.replace(r#""attributes""#, r#""sessionIssuer":{"arn":"arn:aws:iam::1:role/R"},"attributes""#);
        let first = [format!(
            r#"{{"eventID":"e1","eventTime":"2026-11-20T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","sourceIPAddress":"192.0.2.1","recipientAccountId":"111",{session}}}"#
        )];
        let second = [
            // More calls of the same session, from a new address, a new action, a failure, another account,
            // naming its issuer…
            format!(r#"{{"eventID":"e2","eventTime":"2026-11-20T11:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","sourceIPAddress":"198.51.100.9","errorCode":"AccessDenied","recipientAccountId":"222",{issued}}}"#),
            // …a new session, an assumption, and a record without a time.
            r#"{"eventID":"e3","eventTime":"2026-11-20T12:00:00Z","eventSource":"sts.amazonaws.com","eventName":"AssumeRole","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/u","accessKeyId":"AKIA1"},"requestParameters":{"roleArn":"arn:aws:iam::1:role/R","roleSessionName":"x"},"responseElements":{"credentials":{"accessKeyId":"ASIA2","expiration":"2026-11-20T13:00:00Z"}}}"#.to_owned(),
            r#"{"eventID":"e4","eventTime":"never","eventName":"X"}"#.to_owned(),
        ];
        let mut f = Facts::default();
        let cp = f.begin_file();
        first.iter().for_each(|j| f.add(&rec(j), TimeWindow::default()));
        f.end_file(cp, true);
        let before = summary(&f);
        let cp = f.begin_file();
        second.iter().for_each(|j| f.add(&rec(j), TimeWindow::default()));
        assert_eq!(f.file_invalid(&cp).0, 1);
        assert_ne!(summary(&f), before);
        f.end_file(cp, false);
        assert_eq!(summary(&f), before);
        // Kept, the same file adds what a fresh read of both files adds.
        let cp = f.begin_file();
        second.iter().for_each(|j| f.add(&rec(j), TimeWindow::default()));
        f.end_file(cp, true);
        let mut fresh = Facts::default();
        first.iter().chain(&second).for_each(|j| fresh.add(&rec(j), TimeWindow::default()));
        assert_eq!(summary(&f), summary(&fresh));
    }

    #[test]
    fn a_mark_is_24_bytes_and_gives_back_what_it_was_built_from() {
        assert_eq!(std::mem::size_of::<Mark>(), 24, "one per call in the input");
        let base = MarkFields {
            id: 7,
            at: 1_700_000_000,
            action: Action::new("s3.amazonaws.com", "GetObject"),
            ip: Text::new("198.51.100.7"),
            failure: Failure::None,
            is_assumption: false,
            privileged: false,
            by_aws: false,
            console_sign_in: false,
            attack_tool: false,
        };
        for at in [0, -1, 1_700_000_000, -62_135_596_800, 253_402_300_799] {
            for failure in [Failure::None, Failure::Denied, Failure::Other] {
                for flags in 0..32 {
                    let f = MarkFields {
                        at,
                        failure,
                        is_assumption: flags & 1 != 0,
                        privileged: flags & 2 != 0,
                        by_aws: flags & 4 != 0,
                        console_sign_in: flags & 8 != 0,
                        attack_tool: flags & 16 != 0,
                        ..base
                    };
                    assert_eq!(MarkFields::from(Mark::from(f)), f);
                }
            }
        }
        let far = Mark::from(MarkFields { at: i64::MAX, failure: Failure::Denied, ..base });
        assert_eq!((far.at(), far.failure()), (i64::MAX >> 8, Failure::Denied), "held at the bound");
        let (early, late) = (Mark::from(MarkFields { at: -5, ..base }), Mark::from(MarkFields { at: 3, ..base }));
        assert!(early < late, "ordered by time after the event id hash");
        // Saved as the fields, as before marks were packed: a STATE written then still loads.
        let saved = serde_json::to_value(Mark::from(base)).unwrap();
        assert_eq!(saved["at"], 1_700_000_000);
        let older = r#"{"id":7,"at":1700000000,"action":["s3.amazonaws.com","GetObject"],"ip":"198.51.100.7",
            "failure":"None","is_assumption":false,"privileged":false,"by_aws":false,"note":4294967295}"#;
        assert_eq!(serde_json::from_str::<Mark>(older).unwrap(), Mark::from(base));
    }

    #[test]
    fn the_first_call_from_an_address_keeps_its_id_in_any_read_order() {
        // Findings cite the first call from an address: its id must be kept whichever file came first,
        // and whichever thread read it.
        let call = |id: &str, at: &str| {
            format!(
                r#"{{"eventID":"{id}","eventTime":"{at}","eventName":"GetObject","sourceIPAddress":"198.51.100.7",
                "userIdentity":{{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/R/s","accessKeyId":"ASIA1"}}}}"#
            )
        };
        let (early, late) = (call("early", "2026-11-20T10:00:00Z"), call("late", "2026-11-20T11:00:00Z"));
        let cited_first = |act: &Activity| {
            let first = act.marks.iter().min_by_key(|m| m.at()).unwrap();
            let mut ids = act.event_ids.clone();
            ids.settle();
            ids.get(first.id).map(|id| id.to_string())
        };
        for (first, second) in [(&early, &late), (&late, &early)] {
            let mut one = Facts::default();
            one.add(&rec(first), TimeWindow::default());
            one.add(&rec(second), TimeWindow::default());
            assert_eq!(cited_first(one.activity.values().next().unwrap()).as_deref(), Some("early"), "one thread");
            let (mut x, mut y) = (Facts::default(), Facts::default());
            x.add(&rec(first), TimeWindow::default());
            y.add(&rec(second), TimeWindow::default());
            let mut share = x.activity.into_values().next().unwrap();
            share.absorb(*y.activity.into_values().next().unwrap());
            assert_eq!(cited_first(&share).as_deref(), Some("early"), "two threads");
        }
    }

    #[test]
    fn records_that_disagree_on_the_issuer_give_one_answer_in_any_order() {
        let call = |id: &str, kind: &str, issuer: &str| {
            format!(
                r#"{{"eventID":"{id}","eventTime":"2026-11-20T10:00:00Z","eventName":"GetObject","userIdentity":{{"type":"{kind}",
                "arn":"arn:aws:sts::1:assumed-role/R/s","accessKeyId":"ASIA1","sessionContext":{{"sessionIssuer":{{"arn":"{issuer}"}}}}}}}}"#
            )
        };
        let (b, a) =
            (call("e1", "AssumedRole", "arn:aws:iam::1:role/B"), call("e2", "AWSAccount", "arn:aws:iam::1:role/A"));
        let identity = |act: &Activity| (act.identity_type, act.issuer_arn);
        let want = (Some("AWSAccount".into()), Some("arn:aws:iam::1:role/A".into()));
        for (first, second) in [(&a, &b), (&b, &a)] {
            let mut one = Facts::default();
            one.add(&rec(first), TimeWindow::default());
            one.add(&rec(second), TimeWindow::default());
            assert_eq!(identity(one.activity.values().next().unwrap()), want, "one thread reading both");
            // Two threads reading one each, their shares merged.
            let (mut x, mut y) = (Facts::default(), Facts::default());
            x.add(&rec(first), TimeWindow::default());
            y.add(&rec(second), TimeWindow::default());
            let mut share = x.activity.into_values().next().unwrap();
            share.absorb(*y.activity.into_values().next().unwrap());
            assert_eq!(identity(&share), want, "two threads' shares merged");
        }
    }
}

/// One call, owned and complete enough for a timeline (kept only for the sessions a user asked about).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventRow {
    pub at: i64,
    pub event_id: String,
    pub hash: u64,
    pub event_source: String,
    pub event_name: String,
    pub region: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub error_code: Option<String>,
    pub access_key_id: Option<String>,
    pub key: Option<ActivityKey>,
}

impl EventRow {
    pub fn from_record(r: &Record) -> Option<EventRow> {
        let at = r.time_text().and_then(timefmt::parse_iso)?;
        let ident = &r.identity;
        let created = ident.session.attributes.creation_date.get().and_then(timefmt::parse_iso);
        Some(EventRow {
            at,
            event_id: r.event_id.owned().unwrap_or_default(),
            hash: event_hash(r),
            event_source: r.event_source.owned().unwrap_or_default(),
            event_name: r.event_name.owned().unwrap_or_default(),
            region: r.region.owned(),
            source_ip: r.source_ip.owned(),
            user_agent: r.user_agent.owned(),
            error_code: r.error_code.owned(),
            access_key_id: ident.access_key_id.owned(),
            key: ActivityKey::new(ident.access_key_id.get(), ident.arn.get(), created),
        })
    }
}
