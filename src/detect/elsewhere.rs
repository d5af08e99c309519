//! `credentials-used-elsewhere`: a session's credentials used from a network other than the one they
//! started from — the shape of stolen credentials (cloudtrail-sts.md §5; GuardDuty's
//! InstanceCredentialExfiltration; SAM-DetectEC2CredExfil).
//!
//! * **Where they started.** A person's session: where it was assumed (`sourceIPAddress` of the assumption;
//!   for a console switch, the browser's address on `SwitchRole`). An AWS service's session (Lambda, EC2,
//!   ECS, …) and a session inferred from its calls: the network that first used it, since the service's own
//!   address is a name (`lambda.amazonaws.com`). An assumption made from `AWS Internal` falls back to the first use.
//! * **What counts.** Only addresses of calls the holder made: service names, `AWS Internal`, `aws.internal`,
//!   calls AWS made on the session's behalf ([`Mark::by_aws`](crate::extract::Mark)) and `allow_cidrs` never
//!   count. Networks are compared at [`Granularity`](crate::net::Granularity) (/24 and /48 by default), not
//!   exact addresses, so DHCP churn and NAT pools inside one site stay quiet.
//! * **Workload credentials** (EC2 instance profiles, Lambda, ECS tasks and other compute services) are also
//!   flagged, wherever their first use was, when used from an address an IAM user, root or a person's session
//!   called from in the same or an adjacent hour (a workload does not share a desk with a person: the
//!   stratus-red-team `ec2-steal-instance-credentials` recording is this), and, with `aws_ip_ranges`, when used
//!   from outside AWS.
//!
//! Known noise: a laptop that changes network mid-session (office to home, VPN on or off) and dual-stack
//! clients that alternate IPv4 and IPv6. Put the VPN and office ranges in `allow_cidrs`.

use super::{action_label, push_id, session_finding, short_role, Finding, Input, Origin, CREDENTIALS_USED_ELSEWHERE};
use crate::correlate::{Session, SessionActivity};
use crate::extract::{Mark, Text};
use crate::net::parse_ip;
use crate::timefmt::format_rfc3339;
use std::net::IpAddr;

/// Compute services whose sessions are workload credentials, and how summaries name them.
const WORKLOADS: [(&str, &str); 8] = [
    ("ec2.amazonaws.com", "EC2 instance"),
    ("lambda.amazonaws.com", "Lambda"),
    ("ecs-tasks.amazonaws.com", "ECS task"),
    ("pods.eks.amazonaws.com", "EKS pod"),
    ("codebuild.amazonaws.com", "CodeBuild"),
    ("tasks.apprunner.amazonaws.com", "App Runner"),
    ("glue.amazonaws.com", "Glue"),
    ("sagemaker.amazonaws.com", "SageMaker"),
];

/// An EC2 instance id as a session name (`i-0abc…`; anonymised corpora mix the case).
fn is_instance_id(name: &str) -> bool {
    name.strip_prefix("i-").is_some_and(|h| (8..=17).contains(&h.len()) && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// What kind of workload a session's credentials belong to, if any.
fn workload(s: &Session) -> Option<&'static str> {
    let c = &s.assumption.caller;
    if c.is("AWSService") {
        if let Some((_, label)) = WORKLOADS.iter().find(|(svc, _)| c.invoked_by.as_deref() == Some(*svc)) {
            return Some(label);
        }
    }
    let instance_named = s.assumption.session_name.as_deref().is_some_and(is_instance_id);
    ((c.is("AWSService") || s.inferred) && (s.activity.instance_credentials || instance_named))
        .then_some("EC2 instance")
}

/// Why a call's address is not the session's.
#[derive(Debug, Clone, PartialEq)]
enum Why {
    OtherNetwork,
    OutsideAws,
    /// A person called from it: their principal and the event id that shows it.
    PersonsAddress(String, Option<String>),
}

/// Where people (IAM users, root, sessions that a user or SAML subject started) called from, by hour.
struct PersonAddresses<'a> {
    /// Sorted by address, then hour, principal and event id (those with one first); one entry per address,
    /// hour and person, the one with the smallest event id to cite.
    uses: Vec<(IpAddr, PersonUse<'a>)>,
}

impl<'a> PersonAddresses<'a> {
    fn new(input: &Input<'a>) -> Self {
        use rayon::prelude::*;
        let of_users = input
            .sessions
            .user_addresses
            .iter()
            .filter_map(|u| Some((parse_ip(&u.address)?, u)))
            .flat_map(|(ip, u)| u.hours.iter().map(move |&h| (ip, (h, &*u.principal, u.event_id.as_deref()))));
        let of_sessions: Vec<Vec<(IpAddr, PersonUse<'a>)>> = input
            .all
            .par_iter()
            .enumerate()
            .map(|(i, s)| {
                let mut out: Vec<(IpAddr, PersonUse<'a>)> = Vec::new();
                if !matches!(super::origin(input.all, i), Origin::User | Origin::Federated) {
                    return out;
                }
                let act = &s.activity;
                for (m, ip) in holder_calls(act, |_| true) {
                    let this = (ip, (m.at().div_euclid(3600), s.origin_principal.as_str(), act.event_id(m)));
                    // Calls come in runs from one address and hour: keep one entry per run, as the final
                    // de-duplication would (the smallest event id).
                    match out.last_mut() {
                        Some(prev) if prev.0 == this.0 && prev.1 .0 == this.1 .0 => {
                            if cite_order(&this.1) < cite_order(&prev.1) {
                                *prev = this;
                            }
                        }
                        _ => out.push(this),
                    }
                }
                out
            })
            .collect();
        let mut uses: Vec<(IpAddr, PersonUse<'a>)> = of_users.chain(of_sessions.into_iter().flatten()).collect();
        uses.par_sort_unstable_by(|a, b| {
            (a.0, a.1 .0, a.1 .1, cite_order(&a.1)).cmp(&(b.0, b.1 .0, b.1 .1, cite_order(&b.1)))
        });
        // One entry per address, hour and person, preferring one with an event id to cite.
        uses.dedup_by(|b, a| a.0 == b.0 && a.1 .0 == b.1 .0 && a.1 .1 == b.1 .1);
        PersonAddresses { uses }
    }

    /// The calls people made from `ip`, if any did.
    fn uses(&self, ip: IpAddr) -> Option<&PersonUses<'a>> {
        let from = self.uses.partition_point(|(a, _)| *a < ip);
        let to = from + self.uses[from..].partition_point(|(a, _)| *a == ip);
        (to > from).then(|| &self.uses[from..to])
    }
}

/// The calls a session's holder made (not AWS on its behalf) from an address that parses and that `counts`,
/// with that address. Calls come in runs from one address: each run's address is parsed and judged once.
fn holder_calls<'m>(
    act: &'m SessionActivity,
    counts: impl Fn(IpAddr) -> bool + 'm,
) -> impl Iterator<Item = (&'m Mark, IpAddr)> + 'm {
    let mut last: Option<(Text, Option<IpAddr>)> = None;
    act.marks.iter().filter(|m| !m.by_aws()).filter_map(move |m| {
        let ip = match last {
            Some((text, ip)) if text == m.ip => ip,
            _ => {
                let ip = parse_ip(act.ip(m)).filter(|&ip| counts(ip));
                last = Some((m.ip, ip));
                ip
            }
        };
        Some((m, ip?))
    })
}

/// Which of two uses of an address in one hour by one person is cited: one with an event id, the smallest.
fn cite_order<'a>(u: &PersonUse<'a>) -> (bool, Option<&'a str>) {
    (u.2.is_none(), u.2)
}

/// (hour, principal, event id) of calls a person made from one address.
type PersonUse<'a> = (i64, &'a str, Option<&'a str>);

/// The uses of one address, each with the address.
type PersonUses<'a> = [(IpAddr, PersonUse<'a>)];

/// The person who called in the same or an adjacent hour as `at`, among one address's `uses`.
fn person_near<'a>(uses: &PersonUses<'a>, at: i64) -> Option<(&'a str, Option<&'a str>)> {
    let hour = at.div_euclid(3600);
    uses.iter()
        .map(|(_, u)| u)
        .filter(|(h, _, _)| (h - hour).abs() <= 1)
        .min_by_key(|(h, p, _)| ((h - hour).abs(), *p))
        .map(|&(_, p, id)| (p, id))
}

pub(super) fn credentials_used_elsewhere(input: &Input) -> Vec<Finding> {
    use rayon::prelude::*;
    // Only workload sessions compare their addresses with people's, which are built once, here, when some
    // session needs them. Not lazily inside the loop below: the build runs on the same pool, and a worker
    // waiting for its part of the build could be handed another session that waited for the build too, a
    // deadlock (seen at 4 threads).
    let needed = input.all.iter().any(|s| looked_at(s) && workload(s).is_some());
    let people = needed.then(|| PersonAddresses::new(input));
    input.all.par_iter().enumerate().filter_map(|(i, s)| used_elsewhere(input, people.as_ref(), i, s)).collect()
}

/// Whether the rule looks at `s`: credentials that were issued and used.
fn looked_at(s: &Session) -> bool {
    s.assumption.success() && !s.activity.marks.is_empty()
}

/// The finding for one session, if its credentials were used elsewhere.
fn used_elsewhere<'a>(
    input: &Input<'a>,
    people: Option<&PersonAddresses<'a>>,
    i: usize,
    s: &Session,
) -> Option<Finding> {
    let settings = input.settings;
    if !looked_at(s) {
        return None;
    }
    let act = &s.activity;
    // The calls the holder made, from addresses that count.
    let calls: Vec<(&Mark, IpAddr)> =
        holder_calls(act, |ip| !settings.allow_cidrs.iter().any(|c| c.contains(ip))).collect();
    let &(first, first_ip) = calls.first()?;
    let workload = workload(s);
    let by_service = s.assumption.caller.is("AWSService") || s.inferred;
    let (reference, how) = match s.source_ip().and_then(parse_ip).filter(|_| !by_service) {
        Some(ip) if s.switch.is_some() => (settings.networks.network(ip), "switched to in the console from"),
        Some(ip) => (settings.networks.network(ip), "assumed from"),
        None => (settings.networks.network(first_ip), "first used from"),
    };
    let people = workload.and(people);
    // Every address that is not the session's, with its first call and why.
    let mut away: Vec<(IpAddr, &Mark, Why)> = Vec::new();
    // The session's own addresses where no person called from: no later call can change their answer.
    let mut home: Vec<IpAddr> = Vec::new();
    // The address of the run of calls being looked at, where people called from it, and whether it is
    // outside the session's network or AWS (which does not depend on the hour, so it is asked once a run).
    let mut run: Option<(IpAddr, Option<&PersonUses>, Option<Why>)> = None;
    for &(m, ip) in &calls {
        if home.contains(&ip) || away.iter().any(|(a, _, _)| *a == ip) {
            continue;
        }
        let (uses, fixed) = match &run {
            Some((at, uses, fixed)) if *at == ip => (*uses, fixed.clone()),
            _ => {
                let uses = people.and_then(|p| p.uses(ip));
                let fixed = if workload.is_some() && settings.aws_ranges.as_ref().is_some_and(|r| !r.contains(ip)) {
                    Some(Why::OutsideAws)
                } else if settings.networks.network(ip) != reference {
                    Some(Why::OtherNetwork)
                } else {
                    None
                };
                run = Some((ip, uses, fixed.clone()));
                (uses, fixed)
            }
        };
        let why = match uses.and_then(|u| person_near(u, m.at())) {
            Some((person, id)) => Some(Why::PersonsAddress(person.to_owned(), id.map(str::to_owned))),
            None => fixed,
        };
        match why {
            Some(why) => away.push((ip, m, why)),
            None if uses.is_none() => home.push(ip),
            None => {}
        }
    }
    let (ip, m, why) = away.first().cloned()?;
    let (src, name) = act.action(m);
    let whose = match workload {
        Some(kind) => format!(
            "{kind} credentials (role {}, session {})",
            short_role(s.assumption.role_arn.as_deref()),
            s.assumption.session_name.as_deref().unwrap_or("?")
        ),
        None => format!(
            "credentials of {} (role {})",
            s.assumption.session_arn.as_deref().unwrap_or("an unnamed session"),
            short_role(s.assumption.role_arn.as_deref())
        ),
    };
    let what = format!("{} at {}", action_label(src, name), format_rfc3339(m.at()));
    let mut summary = match &why {
        Why::PersonsAddress(person, _) => {
            format!("{whose} used from {ip} ({what}), an address {person} also called from within the hour")
        }
        Why::OutsideAws => format!("{whose} used from {ip}, outside AWS ({what})"),
        Why::OtherNetwork => format!("{whose}, {how} {reference}, used from {ip} ({what})"),
    };
    if away.len() > 1 {
        summary.push_str(&format!(" and from {} more address(es)", away.len() - 1));
    }
    let mut f = session_finding(input, CREDENTIALS_USED_ELSEWHERE, i, m.at(), summary);
    // Evidence: the first call from the session's own network, then the first call from each other address.
    if let Some(home) = calls.iter().find(|(_, a)| settings.networks.network(*a) == reference) {
        push_id(&mut f.event_ids, event_id_from(s, home.1, &calls));
    } else if first_ip == ip {
        push_id(&mut f.event_ids, act.event_id(first));
    }
    for (a, _, why) in &away {
        push_id(&mut f.event_ids, event_id_from(s, *a, &calls));
        if let Why::PersonsAddress(_, id) = why {
            push_id(&mut f.event_ids, id.as_deref());
        }
        f.source_ips.push(a.to_string());
    }
    Some(f)
}

/// The event id of the earliest call from `ip` whose id was kept.
fn event_id_from<'a>(s: &'a Session, ip: IpAddr, calls: &[(&Mark, IpAddr)]) -> Option<&'a str> {
    calls.iter().filter(|(_, a)| *a == ip).find_map(|(m, _)| s.activity.event_id(m))
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::super::{detect, Settings, CREDENTIALS_USED_ELSEWHERE};
    use crate::correlate::UserAddress;
    use crate::net::{AwsRanges, Cidr};

    const FN_ARN: &str = "arn:aws:sts::111122223333:assumed-role/fn-role/fn";
    const INSTANCE: &str = "arn:aws:sts::111122223333:assumed-role/web/i-0abc12345def67890";

    fn ranges() -> AwsRanges {
        AwsRanges::parse(r#"{"prefixes":[{"ip_prefix":"34.224.0.0/12"},{"ip_prefix":"18.236.0.0/15"}]}"#).unwrap()
    }

    /// (story, sessions, unlinked user addresses, settings, expected: (session index, detected at, addresses)).
    type Case = (
        &'static str,
        Vec<crate::correlate::Session>,
        Vec<UserAddress>,
        Settings,
        Vec<(usize, i64, Vec<&'static str>)>,
    );

    fn cases() -> Vec<Case> {
        let lambda = || service_session("a1", T0, "lambda.amazonaws.com", ROLE_LAMBDA, "fn");
        let console = || {
            let mut s = user_session("a1", T0, ROLE_ADMIN);
            s.assumption.source_ip = Some("AWS Internal".into());
            s.switch = Some(Box::new(crate::extract::ConsoleSwitch {
                event_id: "sw1".into(),
                hash: 0,
                at: T0,
                session_arn: s.assumption.session_arn.as_deref().map(str::to_owned),
                switch_from: Some(ALICE.into()),
                source_ip: Some("198.51.100.20".into()),
                user_agent: Some("Mozilla/5.0".into()),
                account: Some(ACCT.into()),
                region: None,
                success: true,
                mfa_authenticated: true,
            }));
            s
        };
        vec![
            (
                "flaws2: a Lambda key used by the function, then from a laptop",
                vec![with_calls(
                    lambda(),
                    &[
                        call("c1", T0, "34.234.236.212").named("logs.amazonaws.com", "CreateLogStream"),
                        call("c2", T0 + 38, "34.234.236.212").unnoted(),
                        call("c3", T0 + 102, "104.102.221.250").named("s3.amazonaws.com", "ListObjects"),
                        call("c4", T0 + 161, "104.102.221.250").unnoted(),
                    ],
                )],
                vec![],
                Settings::default(),
                vec![(0, T0 + 102, vec!["104.102.221.250"])],
            ),
            (
                "a Lambda key used by the function only; AWS decrypting its environment from elsewhere is AWS's",
                vec![with_calls(
                    lambda(),
                    &[
                        call("c1", T0, "54.195.36.205").named("kms.amazonaws.com", "Decrypt").by_aws(),
                        call("c2", T0 + 3, "54.170.121.103"),
                        call("c3", T0 + 9, "54.170.121.77"),
                        call("c4", T0 + 20, "lambda.amazonaws.com"),
                        call("c5", T0 + 30, "AWS Internal"),
                    ],
                )],
                vec![],
                Settings::default(),
                vec![],
            ),
            (
                "AWS Config: every call from AWS Internal or the service's name",
                vec![with_calls(
                    service_session(
                        "a1",
                        T0,
                        "config.amazonaws.com",
                        "arn:aws:iam::111122223333:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig",
                        "AWSConfig-Describe",
                    ),
                    &[call("c1", T0 + 1, "AWS Internal").by_aws(), call("c2", T0 + 2, "config.amazonaws.com").by_aws()],
                )],
                vec![],
                Settings::default(),
                vec![],
            ),
            (
                "a person's session used from the network it was assumed from",
                vec![with_calls(
                    user_session("a1", T0, ROLE_ADMIN),
                    &[call("c1", T0 + 5, "203.0.113.10"), call("c2", T0 + 50, "203.0.113.99")],
                )],
                vec![],
                Settings::default(),
                vec![],
            ),
            (
                "a person's session used from another network",
                vec![with_calls(
                    user_session("a1", T0, ROLE_ADMIN),
                    &[call("c1", T0 + 5, "203.0.113.10"), call("c2", T0 + 50, "198.51.100.7")],
                )],
                vec![],
                Settings::default(),
                vec![(0, T0 + 50, vec!["198.51.100.7"])],
            ),
            (
                "the other network is allow-listed",
                vec![with_calls(
                    user_session("a1", T0, ROLE_ADMIN),
                    &[call("c1", T0 + 5, "203.0.113.10"), call("c2", T0 + 50, "198.51.100.7")],
                )],
                vec![],
                Settings { allow_cidrs: vec![Cidr::parse("198.51.100.0/24").unwrap()], ..Settings::default() },
                vec![],
            ),
            (
                "assumed from an allow-listed office, used from elsewhere",
                vec![with_calls(
                    user_session("a1", T0, ROLE_ADMIN),
                    &[call("c1", T0 + 5, "203.0.113.10"), call("c2", T0 + 50, "192.0.2.44")],
                )],
                vec![],
                Settings { allow_cidrs: vec![Cidr::parse("203.0.113.0/24").unwrap()], ..Settings::default() },
                vec![(0, T0 + 50, vec!["192.0.2.44"])],
            ),
            (
                "a coarser network setting merges the two",
                vec![with_calls(
                    user_session("a1", T0, ROLE_ADMIN),
                    &[call("c1", T0 + 5, "203.0.113.10"), call("c2", T0 + 50, "203.0.114.7")],
                )],
                vec![],
                Settings { networks: crate::net::Granularity { ipv4: 16, ipv6: 48 }, ..Settings::default() },
                vec![],
            ),
            (
                "a console switch is judged from the browser's address, not AWS Internal",
                vec![with_calls(console(), &[call("c1", T0 + 5, "198.51.100.20"), call("c2", T0 + 9, "AWS Internal")])],
                vec![],
                Settings::default(),
                vec![],
            ),
            (
                "a console session used from a second network",
                vec![with_calls(console(), &[call("c1", T0 + 5, "198.51.100.20"), call("c2", T0 + 600, "192.0.2.1")])],
                vec![],
                Settings::default(),
                vec![(0, T0 + 600, vec!["192.0.2.1"])],
            ),
            (
                "stratus: stolen instance credentials used from the address an IAM user works from",
                vec![with_calls(
                    inferred_session(INSTANCE, T0, "ASIASTOLEN"),
                    &[
                        call("c1", T0 + 180, "18.236.253.47").named("sts.amazonaws.com", "GetCallerIdentity"),
                        call("c2", T0 + 181, "18.236.253.47").named("ec2.amazonaws.com", "DescribeInstances"),
                    ],
                )],
                vec![UserAddress {
                    address: "18.236.253.47".into(),
                    principal: "arn:aws:iam::111122223333:user/christophe".into(),
                    hours: vec![T0 / 3600],
                    event_id: Some("u1".into()),
                }],
                Settings::default(),
                vec![(0, T0 + 180, vec!["18.236.253.47"])],
            ),
            (
                "an instance at the same address as a user, but a day apart",
                vec![with_calls(inferred_session(INSTANCE, T0, "ASIAI"), &[call("c1", T0 + 180, "18.236.253.47")])],
                vec![UserAddress {
                    address: "18.236.253.47".into(),
                    principal: "arn:aws:iam::111122223333:user/christophe".into(),
                    hours: vec![T0 / 3600 - 24],
                    event_id: None,
                }],
                Settings::default(),
                vec![],
            ),
            (
                "instance credentials used from an address a person's role session used",
                vec![
                    with_calls(user_session("a0", T0 - 600, ROLE_ADMIN), &[call("p1", T0 - 500, "203.0.113.10")]),
                    with_calls(
                        service_session("a1", T0, "ec2.amazonaws.com", ROLE_APP, "i-0abc12345def67890"),
                        &[call("c1", T0 + 60, "203.0.113.10")],
                    ),
                ],
                vec![],
                Settings::default(),
                vec![(1, T0 + 60, vec!["203.0.113.10"])],
            ),
            (
                "a person's session sharing an address with another person is not a workload's problem",
                vec![with_calls(user_session("a1", T0, ROLE_ADMIN), &[call("c1", T0 + 60, "203.0.113.10")])],
                vec![UserAddress {
                    address: "203.0.113.10".into(),
                    principal: "arn:aws:iam::111122223333:user/bob".into(),
                    hours: vec![T0 / 3600],
                    event_id: None,
                }],
                Settings::default(),
                vec![],
            ),
            (
                "with AWS's ranges: an ECS task's only use is from outside AWS",
                vec![with_calls(
                    service_session("a1", T0, "ecs-tasks.amazonaws.com", ROLE_APP, "d190d14a-2404"),
                    &[call("c1", T0 + 60, "104.102.221.250")],
                )],
                vec![],
                Settings { aws_ranges: Some(ranges()), ..Settings::default() },
                vec![(0, T0 + 60, vec!["104.102.221.250"])],
            ),
            (
                "without AWS's ranges the same task has nothing to compare with",
                vec![with_calls(
                    service_session("a1", T0, "ecs-tasks.amazonaws.com", ROLE_APP, "d190d14a-2404"),
                    &[call("c1", T0 + 60, "104.102.221.250")],
                )],
                vec![],
                Settings::default(),
                vec![],
            ),
            (
                "with AWS's ranges: instance credentials used inside AWS only",
                vec![with_calls(
                    service_session("a1", T0, "ec2.amazonaws.com", ROLE_APP, "i-0abc12345def67890"),
                    &[call("c1", T0 + 60, "34.234.236.212"), call("c2", T0 + 70, "34.234.236.9")],
                )],
                vec![],
                Settings { aws_ranges: Some(ranges()), ..Settings::default() },
                vec![],
            ),
            (
                "a person's session outside AWS is not judged by AWS's ranges",
                vec![with_calls(user_session("a1", T0, ROLE_ADMIN), &[call("c1", T0 + 5, "203.0.113.10")])],
                vec![],
                Settings { aws_ranges: Some(ranges()), ..Settings::default() },
                vec![],
            ),
            (
                "a failed assumption has no credentials to steal",
                vec![{
                    let mut s = with_calls(user_session("a1", T0, ROLE_ADMIN), &[call("c1", T0 + 5, "198.51.100.7")]);
                    s.assumption.error_code = Some("AccessDenied".into());
                    s
                }],
                vec![],
                Settings::default(),
                vec![],
            ),
        ]
    }

    #[test]
    fn credentials_used_elsewhere_cases() {
        for (story, sessions, users, settings, want) in cases() {
            let mut sessions = sessions_of(sessions);
            sessions.user_addresses = users;
            let got: Vec<(usize, i64, Vec<String>)> = detect(&sessions, &settings, None)
                .findings
                .into_iter()
                .filter(|f| f.rule == CREDENTIALS_USED_ELSEWHERE)
                .map(|f| (f.session.unwrap(), f.detected_at, f.source_ips))
                .collect();
            let want: Vec<(usize, i64, Vec<String>)> =
                want.into_iter().map(|(i, t, ips)| (i, t, ips.into_iter().map(String::from).collect())).collect();
            assert_eq!(got, want, "{story}");
        }
    }

    #[test]
    fn findings_name_the_evidence() {
        let s = with_calls(
            service_session("a1", T0, "lambda.amazonaws.com", ROLE_LAMBDA, "fn"),
            &[
                call("c1", T0, "34.234.236.212").named("logs.amazonaws.com", "CreateLogStream"),
                call("c3", T0 + 102, "104.102.221.250").named("s3.amazonaws.com", "ListObjects"),
                call("c5", T0 + 200, "192.0.2.9"),
            ],
        );
        let d = detect(&sessions_of(vec![s]), &Settings::default(), None);
        let f = &d.findings[0];
        assert_eq!(f.event_ids, ["a1", "c1", "c3", "c5"]);
        assert_eq!(f.principal, "lambda.amazonaws.com");
        assert_eq!(f.access_key_id.as_deref(), Some("ASIAA1"));
        assert_eq!(f.session_arn.as_deref(), Some(FN_ARN));
        assert_eq!(
            f.summary,
            "Lambda credentials (role fn-role, session fn), first used from 34.234.236.0/24, used from \
             104.102.221.250 (s3:ListObjects at 2026-11-20T10:01:42Z) and from 1 more address(es)"
        );
    }

    #[test]
    fn instance_ids_and_workloads() {
        for (name, ok) in
            [("i-0abc12345def67890", true), ("i-786a3A8B5C0d92eF4", true), ("i-12", false), ("alice", false)]
        {
            assert_eq!(super::is_instance_id(name), ok, "{name}");
        }
    }

    #[test]
    fn workload_sessions_looked_at_side_by_side_never_wait_on_each_other() {
        // People's addresses are built for the first workload session that needs them, on the pool that
        // looks at the sessions side by side. Built lazily inside that loop, a worker waiting on its own
        // build could be handed another workload session, which then waited on the same build: a deadlock
        // (seen at 4 threads on the real data). Many workload and people sessions, many times, many threads.
        let mut all = Vec::new();
        let ids: Vec<String> = (0..40).map(|n| format!("x{n}")).collect();
        let ips: Vec<String> = (0..40).map(|n| format!("198.51.100.{n}")).collect();
        for i in 0..3000 {
            let s = if i % 16 == 0 {
                service_session(&format!("w{i}"), T0, "lambda.amazonaws.com", ROLE_LAMBDA, "fn")
            } else {
                user_session(&format!("p{i}"), T0, ROLE_ADMIN)
            };
            let calls: Vec<Call> = (0..40).map(|n| call(&ids[n], T0 + 60 * n as i64, &ips[n])).collect();
            all.push(with_calls(s, &calls));
        }
        let sessions = sessions_of(all);
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(16).build().unwrap();
            for _ in 0..20 {
                pool.install(|| detect(&sessions, &Settings::default(), None));
            }
            done.send(()).unwrap();
        });
        let waited = finished.recv_timeout(std::time::Duration::from_secs(90));
        assert!(waited.is_ok(), "detection deadlocked");
    }
}
