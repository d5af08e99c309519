//! The README's walkthrough on `sample-logs/`: every session fact listed in `tools/SAMPLE_STORIES.md`
//! (written by the generator's independent checker) must be what trailscan reports, and the quick-start
//! command must work from the repository root with no flags but the role.

use crate::util::*;
use serde_json::Value;
use std::collections::BTreeMap;

/// The stories' fact tables: story id → (fact → value), values `—` meaning empty.
fn stories() -> BTreeMap<String, BTreeMap<String, String>> {
    let text = std::fs::read_to_string(repo().join("tools/SAMPLE_STORIES.md")).unwrap();
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("### `") {
            current = Some(rest.trim_end_matches('`').to_owned());
            continue;
        }
        if line.starts_with("## ") {
            current = None;
        }
        let Some(story) = &current else { continue };
        let cells: Vec<&str> = line.trim().trim_matches('|').split(" | ").map(str::trim).collect();
        if cells.len() == 2 && cells[0] != "fact" && !cells[0].starts_with("---") {
            let value = cells[1].trim_matches('`').to_owned();
            out.entry(story.clone()).or_default().insert(cells[0].to_owned(), value);
        }
    }
    out
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "—".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn every_story_fact_matches_the_sessions_table() {
    let r = trailscan(&repo(), &["sessions", "-f", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = r.json();
    let stories = stories();
    assert!(stories.len() >= 15, "found {} stories", stories.len());
    let renamed = [("access_key_id (issued)", "access_key_id"), ("event_id (caller copy / only copy)", "event_id")];
    let not_columns = ["expires_at", "actions", "all assumption record eventIDs", "SwitchRole eventID"];
    let mut checked = 0;
    for (story, facts) in &stories {
        let Some(event_id) = facts.get("event_id (caller copy / only copy)") else { continue };
        let row = rows
            .iter()
            .find(|r| r["event_id"].as_str() == Some(event_id))
            .unwrap_or_else(|| panic!("{story}: no session with event_id {event_id}"));
        for (fact, want) in facts {
            if not_columns.contains(&fact.as_str()) {
                continue;
            }
            let column = renamed.iter().find(|(f, _)| f == fact).map(|(_, c)| *c).unwrap_or(fact);
            if row.get(column).is_none() {
                continue;
            }
            assert_eq!(&cell(&row[column]), want, "{story}: {column}");
            checked += 1;
        }
    }
    assert!(checked > 300, "only {checked} facts checked");
}

#[test]
fn quick_start_runs_on_the_sample_trail_and_counts_everything() {
    let r = trailscan(&repo(), &["who-assumed", "James-custom-S3-role", "-f", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "header + CLI session + console switch:\n{}", r.stdout);
    assert!(lines[1].contains("Radkowski-CLI-test") && lines[1].contains(",AssumeRole,"));
    assert!(lines[2].contains(",SwitchRole,"));
    assert!(r.stderr.contains("files: 32 read, 1 skipped (1 CloudTrail digest), 0 failed"), "{}", r.stderr);
    assert!(r.stderr.contains("records: 154 (10 duplicates dropped)"), "{}", r.stderr);
    assert!(r.stderr.contains("events: 120 linked to sessions, 14 in no session"), "{}", r.stderr);
}

#[test]
fn who_became_what_follows_the_chain_and_the_timeline_lists_the_calls() {
    let r = trailscan(&repo(), &["who-became-what", "ops-admin", "-f", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = r.json();
    let roles: Vec<&str> = rows.iter().map(|r| r["role_arn"].as_str().unwrap()).collect();
    assert!(roles.iter().any(|r| r.ends_with(":role/OpsJumpRole")), "{roles:?}");
    let prod = rows.iter().find(|r| r["role_arn"].as_str().unwrap().ends_with(":role/ProdReadOnly")).unwrap();
    assert_eq!(prod["via"], "chain");
    assert_eq!(prod["max_chain_depth"], 2);

    let t = trailscan(&repo(), &["session", "ASIATCH6YDSY7NPPIFCO", "-f", "json"]);
    assert_eq!(t.code, 0, "{}", t.stderr);
    let events = t.json();
    assert_eq!(events[0]["kind"], "assumption");
    assert_eq!(events.iter().filter(|e| e["kind"] == "call").count(), 10);
}

/// Every named report, on the sample trail, answers with the stories the README tells.
#[test]
fn every_named_report_answers_on_the_sample_trail() {
    let report = |name: &str| -> Vec<Value> {
        let r = trailscan(&repo(), &["report", name, "-f", "json"]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        r.json()
    };
    let col = |rows: &[Value], c: &str| -> Vec<String> { rows.iter().map(|r| cell(&r[c])).collect() };
    let listed = trailscan(&repo(), &["report", "--list", "-f", "json"]).json();
    let names = col(&listed, "name");
    assert_eq!(names.len(), 10, "{names:?}");

    let who = report("who_assumed");
    let james = who.iter().find(|r| r["role_arn"] == "arn:aws:iam::210987654321:role/James-custom-S3-role").unwrap();
    assert_eq!((james["sessions"].as_u64(), james["event_count"].as_u64()), (Some(2), Some(18)));
    let admin = who.iter().find(|r| r["role_arn"] == "arn:aws:iam::210987654321:role/AdminRole").unwrap();
    assert_eq!((admin["successful"].as_u64(), admin["failed"].as_u64()), (Some(0), Some(2)));

    let cross = report("cross_account_access");
    assert_eq!(
        col(&cross, "role_arn"),
        [
            "arn:aws:iam::345678901234:role/ProdDeployRole",
            "arn:aws:iam::345678901234:role/ProdReadOnly",
            "arn:aws:iam::345678901234:role/ExternalAuditRole"
        ]
    );
    let external = report("external_access");
    assert_eq!(col(&external, "reason"), ["outside account", "federated identity", "federated identity"]);
    assert_eq!(col(&external, "source_type"), ["AWSAccount", "SAMLUser", "WebIdentityUser"]);
    let failed = report("failed_assumptions");
    assert_eq!(col(&failed, "error_code"), ["AccessDenied", "AccessDenied"]);
    assert!(report("privileged_sessions").is_empty(), "the sample trail grants nothing");
    let console = report("console_sessions");
    assert_eq!(col(&console, "how")[..2], ["role switch", "role switch"]);
    let daily = report("daily_summary");
    assert_eq!(col(&daily, "day"), ["2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"]);
    assert_eq!(col(&daily, "sessions"), ["1", "2", "10", "5"]);
    // The one planted finding: the outside account that assumed ExternalAuditRole.
    let findings = report("findings");
    assert_eq!(col(&findings, "rule"), ["untrusted-external-account"]);
    let inputs = report("inputs");
    assert_eq!(col(&inputs, "status"), ["read", "skipped"]);
    assert_eq!(col(&inputs, "files"), ["32", "1"]);
    // The SQL who_became_what is the command's answer.
    let sql = report("who_became_what");
    let cmd = trailscan(&repo(), &["who-became-what", "-f", "json"]).json();
    let mut a = sql.clone();
    let mut b = cmd.clone();
    let key = |r: &Value| (cell(&r["origin_principal"]), cell(&r["role_arn"]));
    a.sort_by_key(key);
    b.sort_by_key(key);
    assert_eq!(a, b);
}
