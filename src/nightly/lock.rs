//! The lock on STATE: `STATE/lock`, naming the host, process and time of the run that holds it. In a local
//! folder it is a file created exclusively; on S3 an object created with a conditional PUT
//! (`If-None-Match: *`, which S3 honours since August 2024), so two runs on two hosts cannot both create it.
//!
//! A second run refuses while the lock is held. A lock is broken when it is older than `--lock-expiry`, or
//! when it was taken on this machine by a process that no longer exists (a run that was killed), so a crash
//! never needs a person to clean up. "This machine" is the host name, the boot and the PID namespace
//! together: containers that share a host name (or a STATE bucket) but not their processes never judge each
//! other's runs dead; they wait for the expiry instead.

use crate::source::s3::store::{Condition, Put};
use crate::source::s3::S3;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const FILE: &str = "lock";

/// A held lock; dropping it releases it.
pub struct Lock {
    held: Held,
}

enum Held {
    /// The file and what this run wrote into it.
    File { path: PathBuf, text: String },
    /// The object and the ETag of our write: released only while it is still ours.
    Object { s3: Arc<S3>, bucket: String, key: String, etag: String },
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Only while it is still ours: a run that broke it holds it now.
        let standing = self.standing();
        match &self.held {
            Held::File { path, .. } => {
                if matches!(standing, Ok(Some(true))) {
                    std::fs::remove_file(path).ok();
                }
            }
            Held::Object { s3, bucket, key, .. } => match standing {
                Ok(Some(false)) => crate::messages::warn(&format!(
                    "the lock {} was taken over by another run while this one ran (longer than --lock-expiry?): \
                     left to it",
                    self.shown()
                )),
                Ok(None) => {}
                // Ours, or we cannot tell: release it.
                _ => {
                    if let Err(e) = s3.delete_object(bucket, key) {
                        crate::messages::warn(&format!(
                            "{e:#}; the lock stays until it expires (--lock-expiry) or is deleted"
                        ));
                    }
                }
            },
        }
    }
}

impl Lock {
    /// Whether the lock is still this run's (`Some(true)`), another run's (`Some(false)`), or gone (`None`).
    fn standing(&self) -> Result<Option<bool>> {
        Ok(match &self.held {
            Held::File { path, text } => std::fs::read_to_string(path).ok().map(|t| t == *text),
            Held::Object { s3, bucket, key, etag } => s3.get_object(bucket, key)?.map(|(_, now)| now == *etag),
        })
    }

    fn shown(&self) -> String {
        match &self.held {
            Held::File { path, .. } => path.display().to_string(),
            Held::Object { bucket, key, .. } => format!("s3://{bucket}/{key}"),
        }
    }

    /// Checks that the lock is still this run's. A run that outlived `--lock-expiry` and had its lock broken
    /// stops here, before it writes OUT over the work of the run that broke it.
    pub fn confirm(&self) -> Result<()> {
        if self.standing()? != Some(true) {
            bail!(
                "the lock {} was broken by another run while this one ran (it took longer than \
                 --lock-expiry): this run stops before writing anything more. Give --lock-expiry more than the \
                 longest run takes",
                self.shown()
            );
        }
        Ok(())
    }

    /// Stamps the lock with `now`, so that it expires `--lock-expiry` from now: a run of many passes (a
    /// backlog) renews it at each, and only a single pass longer than the expiry lets another run break it.
    /// Fails, as [`Lock::confirm`] does, when another run has broken it already.
    pub fn renew(&mut self, now: i64) -> Result<()> {
        self.confirm()?;
        let renewed = Holder::me(now).text();
        match &mut self.held {
            Held::File { path, text } => {
                // Through a new name and a rename: a run judging the lock never reads half a text.
                let fresh = path.with_file_name(format!(".{FILE}.{}", std::process::id()));
                std::fs::write(&fresh, &renewed)
                    .and_then(|_| std::fs::rename(&fresh, &*path))
                    .with_context(|| format!("cannot renew the lock {}", path.display()))?;
                *text = renewed;
            }
            Held::Object { s3, bucket, key, etag } => {
                match s3.put_object(bucket, key, renewed.into_bytes(), &Condition::Unchanged(etag.clone()))? {
                    Put::Done(new) => *etag = new,
                    Put::Refused => bail!(
                        "the lock s3://{bucket}/{key} was broken by another run while this one ran: this run \
                         stops before its next pass. Give --lock-expiry more than the longest pass takes"
                    ),
                }
            }
        }
        Ok(())
    }
}

/// Who holds a lock, as written into it (and who owns a staging folder: `place`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Holder {
    host: String,
    pid: Option<u32>,
    since: i64,
    /// `/proc/sys/kernel/random/boot_id`, where there is one.
    boot: Option<String>,
    /// The PID namespace (`/proc/self/ns/pid`), where there is one: a PID means a process only within it.
    pidns: Option<String>,
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl Holder {
    pub(super) fn me(now: i64) -> Holder {
        Holder {
            host: read_trimmed("/proc/sys/kernel/hostname")
                .or_else(|| read_trimmed("/etc/hostname"))
                .unwrap_or_default(),
            pid: Some(std::process::id()),
            since: now,
            boot: read_trimmed("/proc/sys/kernel/random/boot_id"),
            pidns: std::fs::read_link("/proc/self/ns/pid").ok().map(|p| p.to_string_lossy().into_owned()),
        }
    }

    pub(super) fn text(&self) -> String {
        let mut t = format!("host={}\npid={}\nsince={}\n", self.host, self.pid.unwrap_or(0), self.since);
        for (k, v) in [("boot", &self.boot), ("pidns", &self.pidns)] {
            if let Some(v) = v {
                t.push_str(&format!("{k}={v}\n"));
            }
        }
        t
    }

    pub(super) fn parse(text: &str) -> Holder {
        let field =
            |k: &str| text.lines().find_map(|l| l.strip_prefix(k).and_then(|v| v.strip_prefix('='))).map(str::to_owned);
        Holder {
            host: field("host").unwrap_or_default(),
            pid: field("pid").and_then(|v| v.parse().ok()),
            since: field("since").and_then(|v| v.parse().ok()).unwrap_or(0),
            boot: field("boot"),
            pidns: field("pidns"),
        }
    }

    /// Whether `self` was a process of the machine `me` describes that no longer exists. Only answered where
    /// `/proc` says so; elsewhere only the expiry breaks a lock.
    pub(super) fn is_gone(&self, me: &Holder) -> bool {
        let same = |a: &Option<String>, b: &Option<String>| a.is_none() || b.is_none() || a == b;
        let same_machine =
            !self.host.is_empty() && self.host == me.host && same(&self.boot, &me.boot) && same(&self.pidns, &me.pidns);
        same_machine
            && self
                .pid
                .is_some_and(|pid| Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{pid}")).exists())
    }
}

/// What to do about a lock someone else wrote.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Break it, for this reason.
    Break(&'static str),
    /// Refuse the run: who holds it and until when.
    Held(String),
}

fn judge(text: &str, me: &Holder, now: i64, expiry: i64) -> Verdict {
    let h = Holder::parse(text);
    if h.is_gone(me) {
        Verdict::Break("its process is gone")
    } else if now - h.since >= expiry {
        Verdict::Break("it has expired")
    } else {
        Verdict::Held(format!(
            "(pid {}, on {}, since {}): wait for it to finish. The lock expires at {} (--lock-expiry)",
            h.pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
            if h.host.is_empty() { "?" } else { &h.host },
            crate::timefmt::format_rfc3339(h.since),
            crate::timefmt::format_rfc3339(h.since + expiry),
        ))
    }
}

/// Takes the lock on the local folder `dir` (STATE), or says who holds it and what to do.
pub fn acquire(dir: &Path, expiry: i64, now: i64) -> Result<Lock> {
    let path = dir.join(FILE);
    let me = Holder::me(now);
    for _ in 0..2 {
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                let text = me.text();
                f.write_all(text.as_bytes())
                    .and_then(|_| f.sync_all())
                    .with_context(|| format!("cannot write the lock {}", path.display()))?;
                return Ok(Lock { held: Held::File { path, text } });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                match judge(&text, &me, now, expiry) {
                    Verdict::Break(why) => {
                        crate::messages::warn(&format!("breaking the lock {} ({why})", path.display()));
                        std::fs::remove_file(&path).ok();
                    }
                    Verdict::Held(who) => bail!(
                        "another trailscan nightly run holds {} {who}; if no run is going on, delete the file",
                        path.display()
                    ),
                }
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("cannot create the lock {} (is --state a writable folder?)", path.display())))
            }
        }
    }
    bail!("cannot take the lock {}: another run keeps re-creating it", path.display())
}

/// Takes the lock `s3://bucket/key`, or says who holds it and what to do. A stale lock is replaced with a
/// PUT conditional on its ETag, so of two runs breaking it at once only one gets it.
pub fn acquire_object(s3: Arc<S3>, bucket: &str, key: &str, expiry: i64, now: i64) -> Result<Lock> {
    let url = format!("s3://{bucket}/{key}");
    let me = Holder::me(now);
    let body = me.text().into_bytes();
    let mut condition = Condition::Absent;
    for _ in 0..3 {
        match s3
            .put_object(bucket, key, body.clone(), &condition)
            .with_context(|| format!("cannot take the lock {url}"))?
        {
            Put::Done(etag) => {
                return Ok(Lock { held: Held::Object { s3, bucket: bucket.to_owned(), key: key.to_owned(), etag } })
            }
            Put::Refused => {
                // Held (or, after a break, taken by another run first): read who holds it now.
                let Some((text, etag)) = s3.get_object(bucket, key)? else {
                    condition = Condition::Absent;
                    continue;
                };
                match judge(&String::from_utf8_lossy(&text), &me, now, expiry) {
                    Verdict::Break(why) => {
                        crate::messages::warn(&format!("breaking the lock {url} ({why})"));
                        condition = Condition::Unchanged(etag);
                    }
                    Verdict::Held(who) => bail!(
                        "another trailscan nightly run holds {url} {who}; if no run is going on, delete the \
                         object (aws s3 rm {url})"
                    ),
                }
            }
        }
    }
    bail!("cannot take the lock {url}: other runs keep taking it")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Holder {
        Holder {
            host: "h1".into(),
            pid: Some(std::process::id()),
            since: 1000,
            boot: Some("b1".into()),
            pidns: Some("pid:[1]".into()),
        }
    }

    #[test]
    fn a_broken_lock_is_noticed_and_not_released() {
        let dir = tempfile::tempdir().unwrap();
        let lock = acquire(dir.path(), 60, 1000).unwrap();
        lock.confirm().unwrap();
        assert!(acquire(dir.path(), 60, 1001).is_err(), "held");
        // Another run breaks it (as after --lock-expiry) and takes it.
        let theirs = acquire(dir.path(), 0, 2000).unwrap();
        let err = lock.confirm().unwrap_err().to_string();
        assert!(err.contains("was broken by another run") && err.contains("--lock-expiry"), "{err}");
        drop(lock);
        assert!(dir.path().join(FILE).exists(), "a broken lock's run leaves the new holder's lock alone");
        theirs.confirm().unwrap();
        drop(theirs);
        assert!(!dir.path().join(FILE).exists());
    }

    #[test]
    fn a_renewed_lock_expires_from_its_renewal() {
        let dir = tempfile::tempdir().unwrap();
        let mut lock = acquire(dir.path(), 60, 1000).unwrap();
        lock.renew(1050).unwrap();
        lock.confirm().unwrap();
        assert!(acquire(dir.path(), 60, 1080).is_err(), "held: 30 s after its renewal");
        assert_eq!(Holder::parse(&std::fs::read_to_string(dir.path().join(FILE)).unwrap()).since, 1050);
        // Once another run has broken it, it cannot be renewed.
        let _theirs = acquire(dir.path(), 60, 1110).unwrap();
        let err = lock.renew(1111).unwrap_err().to_string();
        assert!(err.contains("was broken by another run"), "{err}");
    }

    #[test]
    fn holder_round_trips() {
        let h = me();
        assert_eq!(Holder::parse(&h.text()), h);
        let old = Holder::parse("host=h1\npid=7\nsince=5\n");
        assert_eq!((old.boot, old.pidns, old.since), (None, None, 5));
    }

    #[test]
    fn who_breaks_a_lock() {
        let me = me();
        let gone = u32::MAX - 1; // no such process
        let lock = |host: &str, pid: u32, boot: &str, pidns: &str| {
            format!("host={host}\npid={pid}\nsince=1000\nboot={boot}\npidns={pidns}\n")
        };
        if Path::new("/proc/self").exists() {
            assert_eq!(judge(&lock("h1", gone, "b1", "pid:[1]"), &me, 1001, 60), Verdict::Break("its process is gone"));
            // A lock of an older trailscan, without boot or namespace: the host decides.
            assert_eq!(
                judge(&format!("host=h1\npid={gone}\nsince=1000"), &me, 1001, 60),
                Verdict::Break("its process is gone")
            );
        }
        // Alive here, or another host, boot or PID namespace: held until it expires.
        let mine = std::process::id();
        for text in [
            lock("h1", mine, "b1", "pid:[1]"),
            lock("h2", gone, "b1", "pid:[1]"),
            lock("h1", gone, "b2", "pid:[1]"),
            lock("h1", gone, "b1", "pid:[2]"),
            lock("", gone, "b1", "pid:[1]"),
        ] {
            assert!(matches!(judge(&text, &me, 1059, 60), Verdict::Held(_)), "{text}");
            assert_eq!(judge(&text, &me, 1060, 60), Verdict::Break("it has expired"), "{text}");
        }
        let Verdict::Held(who) = judge(&lock("h2", 42, "b", "n"), &me, 1001, 60) else { panic!() };
        assert!(who.contains("pid 42, on h2") && who.contains("--lock-expiry"), "{who}");
    }
}
