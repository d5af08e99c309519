//! Log fields are attacker-controlled: formulas must not run in a spreadsheet, escape sequences must not
//! reach the terminal, and session tokens must never be printed.

use crate::util::*;
use serde_json::json;

#[test]
fn hostile_fields_are_neutralised_in_every_format() {
    let w = Workdir::new();
    let mut a = assume_role(
        "=1+1",
        "2026-11-20T10:00:00Z",
        iam_user("111122223333", "eve", "AKIAEVE"),
        "arn:aws:iam::111122223333:role/Deploy",
        "=HYPERLINK(\"http://evil\",\"x\")",
        "ASIAEVE",
        "Nov 20, 2026, 11:00:00 AM",
    );
    a["userAgent"] = json!("\u{1b}]0;pwned\u{7}\u{1b}[2J@SUM(1)");
    a["sourceIPAddress"] = json!("-cmd|calc");
    a["responseElements"]["credentials"]["sessionToken"] = json!("IQoJb3JpZ2luX2VjTOPSECRETTOKENVALUE");
    w.trail("a.json.gz", &[a]);

    let csv = w.run(&["sessions", "-s", ".", "-f", "csv"]);
    assert_eq!(csv.code, 0, "{}", csv.stderr);
    assert!(csv.stdout.contains("'=HYPERLINK"), "{}", csv.stdout);
    assert!(csv.stdout.contains(",'-cmd|calc,"), "{}", csv.stdout);
    assert!(csv.stdout.contains(",'=1+1"), "{}", csv.stdout);
    for line in csv.stdout.lines() {
        for cell in line.split(',') {
            let c = cell.trim_start_matches('"');
            assert!(!c.starts_with('=') && !c.starts_with('@') && !c.starts_with('+'), "unsafe cell {cell:?}");
        }
    }

    let table = w.run(&["sessions", "-s", ".", "-f", "table"]);
    assert!(!table.stdout.contains('\u{1b}') && !table.stdout.contains('\u{7}'), "{:?}", table.stdout);
    let timeline = w.run(&["session", "ASIAEVE", "-s", ".", "-f", "table"]);
    assert_eq!(timeline.code, 0, "{}", timeline.stderr);
    assert!(!timeline.stdout.contains('\u{1b}'), "{:?}", timeline.stdout);

    for format in ["csv", "json", "ndjson", "table"] {
        for cmd in [&["sessions"][..], &["who-assumed", "Deploy"], &["who-became-what"], &["session", "ASIAEVE"]] {
            let mut args: Vec<&str> = cmd.to_vec();
            args.extend(["-s", ".", "-f", format]);
            let r = w.run(&args);
            for out in [&r.stdout, &r.stderr] {
                assert!(
                    !out.contains("TOPSECRETTOKEN") && !out.contains("IQoJb3JpZ2lu"),
                    "{cmd:?} {format}: token printed"
                );
            }
        }
    }
}

#[test]
fn file_names_in_messages_are_sanitised() {
    let w = Workdir::new();
    w.write("evil\u{1b}[31m.json", "not json");
    let r = w.run(&["sessions", "-s", ".", "-f", "csv"]);
    assert!(!r.stderr.contains('\u{1b}'), "{:?}", r.stderr);
    assert!(r.stderr.contains("evil\u{FFFD}[31m.json"), "{:?}", r.stderr);
}
