//! The lock on STATE: `STATE/lock`, created exclusively, naming the host, process and time of the run that
//! holds it. A second run refuses while it is held. A lock is broken when it is older than `--lock-expiry`,
//! or when it was taken on this host by a process that no longer exists (a run that was killed), so a crash
//! never needs a person to clean up.

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const FILE: &str = "lock";

/// A held lock; dropping it releases it.
pub struct Lock {
    path: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        std::fs::remove_file(&self.path).ok();
    }
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// Whether process `pid` of this host is gone. Only answered where `/proc` says so; elsewhere only expiry
/// breaks a lock.
fn process_gone(pid: u32) -> bool {
    Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{pid}")).exists()
}

/// Takes the lock on `dir` (STATE), or says who holds it and what to do.
pub fn acquire(dir: &Path, expiry: i64, now: i64) -> Result<Lock> {
    let path = dir.join(FILE);
    let me = host();
    for _ in 0..2 {
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                writeln!(f, "host={me}\npid={}\nsince={now}", std::process::id())
                    .and_then(|_| f.sync_all())
                    .with_context(|| format!("cannot write the lock {}", path.display()))?;
                return Ok(Lock { path });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let field = |k: &str| {
                    text.lines().find_map(|l| l.strip_prefix(k).and_then(|v| v.strip_prefix('='))).map(str::to_owned)
                };
                let since: i64 = field("since").and_then(|v| v.parse().ok()).unwrap_or(0);
                let pid: Option<u32> = field("pid").and_then(|v| v.parse().ok());
                let same_host = field("host").is_some_and(|h| h == me && !h.is_empty());
                let dead = same_host && pid.is_some_and(process_gone);
                if dead || now - since >= expiry {
                    let why = if dead { "its process is gone" } else { "it has expired" };
                    crate::messages::warn(&format!("breaking the lock {} ({why})", path.display()));
                    std::fs::remove_file(&path).ok();
                    continue;
                }
                bail!(
                    "another trailscan nightly run holds {} (pid {}, on {}, since {}): wait for it to finish. \
                     The lock expires at {} (--lock-expiry); if no run is going on, delete the file",
                    path.display(),
                    pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
                    field("host").unwrap_or_else(|| "?".into()),
                    crate::timefmt::format_rfc3339(since),
                    crate::timefmt::format_rfc3339(since + expiry),
                );
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("cannot create the lock {} (is --state a writable folder?)", path.display())))
            }
        }
    }
    bail!("cannot take the lock {}: another run keeps re-creating it", path.display())
}
