//! All talk on standard error: per-file warnings, errors, the run summary and the progress bar. Only this
//! module writes to stderr, and every string that came from a log passes through [`sanitize`] first:
//! log fields are attacker-controlled, and a session name must not be able to drive the user's terminal.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};

/// Whether a character could change what a terminal shows beyond itself: C0/C1 controls, DEL, bidi
/// overrides and isolates, zero-width characters and Unicode line separators.
fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

/// Replaces every hostile character with U+FFFD, so the reader sees that something was there.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hostile) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().map(|c| if is_hostile(c) { '\u{FFFD}' } else { c }).collect())
}

/// A warning about one input (a file that could not be read, records that were skipped). The run goes on.
pub fn warn(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "trailscan: {}", sanitize(msg));
}

/// The run's closing summary lines.
pub fn summary(lines: &[String]) {
    let mut err = std::io::stderr().lock();
    for l in lines {
        let _ = writeln!(err, "{}", sanitize(l));
    }
}

/// An error followed by lines that help fix it: the tables and columns a query can name, the reports there
/// are, the sessions an id could mean. A message is one line (it is sanitised whole, newlines included, since
/// it may quote a log field); the help lines are ours, printed one by one, each sanitised too.
#[derive(Debug)]
pub struct Help {
    pub message: String,
    pub lines: Vec<String>,
}

impl std::fmt::Display for Help {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Help {}

/// A fatal error, with its causes, one per line, and the help lines of a [`Help`] among them.
pub fn fatal(e: &anyhow::Error) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "trailscan: error: {}", sanitize(&e.to_string()));
    for cause in e.chain().skip(1) {
        let _ = writeln!(err, "  caused by: {}", sanitize(&cause.to_string()));
    }
    for help in e.chain().filter_map(|c| c.downcast_ref::<Help>()) {
        for line in &help.lines {
            let _ = writeln!(err, "  {}", sanitize(line));
        }
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
pub struct Progress {
    bar: indicatif::ProgressBar,
}

impl Progress {
    pub fn new(files: u64, bytes: u64) -> Self {
        let bar = if std::io::stderr().is_terminal() && files > 1 {
            let bar = indicatif::ProgressBar::new(bytes);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} ({bytes_per_sec}, ETA {eta}) {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message(format!("0/{files} files"));
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        Progress { bar }
    }

    pub fn advance(&self, bytes: u64, files_done: u64, files: u64, records: u64) {
        self.bar.inc(bytes);
        if !self.bar.is_hidden() {
            self.bar.set_message(format!("{files_done}/{files} files, {records} records"));
        }
    }

    /// A spinner with a message, for work whose size is not known in advance.
    pub fn spinner() -> Self {
        let bar = if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        Progress { bar }
    }

    pub fn message(&self, msg: &str) {
        if !self.bar.is_hidden() {
            self.bar.set_message(sanitize(msg).into_owned());
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// With `TRAILSCAN_TRACE` set, one line per pipeline phase on stderr: seconds since start, CPU seconds used
/// by the process so far (all threads, user and system), resident memory now and at its peak, and whether
/// huge pages may be used. For measuring where a run spends its time and
/// memory; silent otherwise.
pub fn phase(name: &str) {
    static START: std::sync::OnceLock<Option<std::time::Instant>> = std::sync::OnceLock::new();
    let Some(start) = START.get_or_init(|| std::env::var_os("TRAILSCAN_TRACE").map(|_| std::time::Instant::now()))
    else {
        return;
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |field: &str| {
        status.lines().find_map(|l| l.strip_prefix(field)).map(|v| v.trim().trim_end_matches(" kB").trim().to_owned())
    };
    let mb = |v: Option<String>| v.and_then(|v| v.parse::<u64>().ok()).map_or(0, |k| k / 1024);
    // Whether the kernel may back this process's memory with huge pages (Linux 5.0 and later say).
    let pages = match kb("THP_enabled:").as_deref() {
        Some("0") => ", huge pages off",
        Some(_) => ", huge pages on",
        None => "",
    };
    let _ = writeln!(
        std::io::stderr().lock(),
        "trailscan: trace: {:>7.3}s {name:<12} cpu {:>7.2}s, rss {} MB, peak {} MB{pages}",
        start.elapsed().as_secs_f64(),
        cpu_seconds(),
        mb(kb("VmRSS:")),
        mb(kb("VmHWM:"))
    );
}

/// CPU time the process has used, user and system, from `/proc/self/stat` (in the kernel's clock ticks,
/// 100 a second); 0 where there is no such file.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name, in parentheses, may hold spaces: the fields are counted after it.
    let fields = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = fields.split_whitespace().skip(11).take(2).filter_map(|t| t.parse::<u64>().ok()).sum();
    ticks as f64 / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn the_trace_counts_the_cpu_time_used() {
        // Spin until the process has used a tenth of a second more, or give up after ten seconds of wall time.
        let (before, start) = (cpu_seconds(), std::time::Instant::now());
        let mut spin = 0u64;
        while cpu_seconds() - before < 0.1 && start.elapsed() < std::time::Duration::from_secs(10) {
            for _ in 0..100_000 {
                spin = std::hint::black_box(spin.wrapping_add(1));
            }
        }
        let used = cpu_seconds() - before;
        assert!(used >= 0.1, "{used} s counted after {:?} of spinning", start.elapsed());
    }

    #[test]
    fn hostile_characters_are_replaced() {
        assert_eq!(sanitize("plain-name@example.com"), "plain-name@example.com");
        assert!(matches!(sanitize("plain"), Cow::Borrowed(_)));
        assert_eq!(sanitize("a\x1b[31mred\x07"), "a\u{FFFD}[31mred\u{FFFD}");
        assert_eq!(sanitize("evil\u{202E}txt.exe\r\n"), "evil\u{FFFD}txt.exe\u{FFFD}\u{FFFD}");
        assert_eq!(sanitize("zero\u{200B}width\u{9b}"), "zero\u{FFFD}width\u{FFFD}");
    }
}
