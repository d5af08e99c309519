//! The benchmark corpus generator, smoke-run in the test suite: deterministic by seed, and a trail that
//! trailscan reads completely (the timed benchmark itself is `bench/bench.py`, outside the tests).

use crate::util::*;
use std::process::Command;

fn generate(dir: &std::path::Path, records: &str, seed: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_trailscan-gen"))
        .args([
            "--out",
            dir.to_str().unwrap(),
            "--records",
            records,
            "--seed",
            seed,
            "--accounts",
            "4",
            "--regions",
            "2",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn generated_corpus_is_deterministic_and_fully_read() {
    let (a, b) = (Workdir::new(), Workdir::new());
    generate(a.path(), "6000", "7");
    generate(b.path(), "6000", "7");
    assert!(tree_bytes(a.path()) == tree_bytes(b.path()), "same seed, same bytes");

    let r = a.run(&["sessions", "-s", ".", "-f", "csv", "--threads", "2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("skipped, 0 failed"), "{}", r.stderr);
    assert!(!r.stderr.contains(" 0 read"), "{}", r.stderr);
    assert!(r.stdout.lines().count() > 100, "{}", r.stderr);
    // Every call in the corpus is made with a session the corpus also holds (late deliveries included).
    assert!(r.stderr.contains(", 0 in no session"), "{}", r.stderr);
    assert!(r.stderr.contains("cross-account copies merged"), "{}", r.stderr);
    let one = a.run(&["sessions", "-s", ".", "-f", "csv", "--threads", "1"]);
    assert_eq!(one.stdout, r.stdout);
}

/// The generator plants one incident an hour, each tripping one rule in turn: on eleven hours of corpus, `flags`
/// finds each of the eleven exactly once (the self-trust renewal is also `role-juggling`), and nothing in the
/// ordinary traffic.
#[test]
fn every_planted_incident_is_found_and_nothing_else() {
    let dir = Workdir::new();
    generate(dir.path(), "11000", "7");
    let r = dir.run(&["flags", "-s", ".", "-f", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut rules: Vec<String> = r.json().iter().map(|f| f["rule"].as_str().unwrap().to_owned()).collect();
    rules.sort();
    let mut planted = vec![
        "access-denied-burst",
        "console-sign-in-from-credentials",
        "credentials-used-elsewhere",
        "federation-token-by-user",
        "implicit-self-trust",
        "long-role-chain",
        "privileged-action-in-session",
        "role-enumeration",
        "role-juggling",
        "sensitive-role-without-mfa",
        "service-role-used-by-human",
        "untrusted-external-account",
    ];
    planted.sort();
    assert_eq!(rules, planted, "{}", r.stdout);
    for f in r.json() {
        // The planted actors: the mallory users, their address, and the outside account.
        let text = f.to_string();
        assert!(
            ["mallory", "185.220.101.", "999988887777"].iter().any(|m| text.contains(m)),
            "a finding on ordinary traffic: {text}"
        );
    }
}

/// `bench/bench.py` end to end on a tiny corpus, with the binaries under test: the benchmark keeps working
/// (its numbers mean nothing here).
#[test]
fn the_benchmark_script_runs() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    let out = Command::new("python3")
        .current_dir(repo())
        .args(["bench/bench.py", "--records", "2000", "--runs", "1", "--no-write", "--skip-peers", "--skip-s3"])
        .args(["--trailscan", env!("CARGO_BIN_EXE_trailscan"), "--gen", env!("CARGO_BIN_EXE_trailscan-gen")])
        .arg("--corpus")
        .arg(&corpus)
        .output()
        .expect("python3 runs the benchmark script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for row in [
        "| trailscan sessions (2 threads) |",
        "| gzip -dc only, 2 processes |",
        "| trailscan nightly, first run (2 threads) |",
        "| trailscan nightly, 8-day backlog in 64MB passes |",
        "trailscan / gzip-only wall time",
        "| trailscan sessions, corpus doubled |",
        "peak RSS doubled corpus / corpus",
    ] {
        assert!(stdout.contains(row), "{row} missing from:\n{stdout}");
    }
}

/// The allocator's memory is kept in small pages: huge pages cost the run 8% of its time zeroing 2 MiB pages
/// that it had returned in 64 KiB pieces, and held 15% of its peak memory unused (BENCHMARKS.md).
#[test]
fn the_run_keeps_to_small_pages() {
    let dir = Workdir::new();
    generate(dir.path(), "2000", "7");
    let r = trailscan_env(dir.path(), &["sessions", "-s", ".", "-f", "csv"], &[("TRAILSCAN_TRACE", "1")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if !cfg!(target_os = "linux") || !status.contains("THP_enabled:") {
        return; // Before Linux 5.0 the kernel does not say.
    }
    let read = r.stderr.lines().find(|l| l.contains("trace:") && l.contains(" read ")).expect(&r.stderr);
    assert!(read.ends_with("huge pages off"), "{read}");
}
