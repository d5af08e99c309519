//! Where STATE and OUT live: a local folder, or an S3 prefix (`s3://bucket/prefix`) that this module makes
//! look like one, so the rest of the run reads and writes plain files either way.
//!
//! On S3, STATE is `PREFIX/state.json.gz` and `PREFIX/lock`, and OUT is the same tree as on disk, keyed below
//! the prefix. A run works in private temporary folders:
//!
//! * STATE's `state.json.gz` is downloaded at the start; the commit writes it locally and uploads it with
//!   one PUT, conditional on the ETag read at the start (`If-Match`, or `If-None-Match: *` for the first
//!   run), so a run whose lock was broken under it (it ran longer than `--lock-expiry`) cannot overwrite the
//!   commit of the run that broke it.
//! * OUT starts empty, so everything in it is this run's: [`Place::publish`] uploads it all before the
//!   commit, and the previous open parts are deleted after it, as on disk. What a crashed run uploaded is
//!   found on the next run's listing of the prefix and deleted by the same rule as on disk
//!   ([`history::is_stale`]).
//! * The lock is an object created with a conditional PUT ([`lock::acquire_object`]).
//!
//! The order is the one that makes a local OUT crash-safe: every OUT object is uploaded (each PUT is
//! atomic) before STATE is committed, and STATE is committed last. A killed run leaves its staging folders
//! (`trailscan-nightly-*` in the temporary folder) behind; nothing reads them again, and the next run on the
//! machine removes them: each holds a note of the process that owns it ([`OWNER`]), and a folder whose
//! process is gone is removed by the same judgement that breaks a dead run's lock.

use super::{history, lock, state};
use crate::source::s3::store::{Condition, Put};
use crate::source::s3::{S3Options, S3};
use crate::source::SourceSpec;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A folder of the run.
pub struct Place {
    /// What the run reads and writes: the user's folder, or the private staging folder of an S3 prefix.
    pub dir: PathBuf,
    remote: Option<Remote>,
}

struct Remote {
    s3: Arc<S3>,
    bucket: String,
    /// Empty, or ending in `/`.
    prefix: String,
    /// The ETag of `state.json.gz` when the run read it (`None`: there was none).
    state_etag: Option<String>,
    _staging: tempfile::TempDir,
}

impl Remote {
    fn key(&self, rel: &str) -> String {
        format!("{}{rel}", self.prefix)
    }

    fn url(&self, rel: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(rel))
    }
}

/// How the names of staging folders start.
const STAGING: &str = "trailscan-nightly-";

/// The file in a staging folder that names the process owning it (a [`lock::Holder`]). Named `.…`, so
/// [`Place::publish`] does not upload it.
const OWNER: &str = ".trailscan-owner";

/// Opens STATE and OUT: creates local folders, connects to S3 for the others (once per bucket).
pub fn open(state: &SourceSpec, out: &SourceSpec, aws: &S3Options) -> Result<(Place, Place)> {
    let mut connected: Vec<(String, Arc<S3>)> = Vec::new();
    let me = lock::Holder::me(crate::timefmt::now());
    if [state, out].iter().any(|spec| matches!(spec, SourceSpec::S3 { .. })) {
        remove_abandoned_staging(&std::env::temp_dir(), &me);
    }
    let mut open_one = |flag: &str, spec: &SourceSpec| -> Result<Place> {
        match spec {
            SourceSpec::Disk(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("{flag} {}: cannot create the folder", dir.display()))?;
                Ok(Place { dir: dir.clone(), remote: None })
            }
            SourceSpec::S3 { bucket, prefix } => {
                let s3 = match connected.iter().find(|(b, _)| b == bucket) {
                    Some((_, s3)) => s3.clone(),
                    None => {
                        let s3 = Arc::new(S3::connect_to(aws, bucket).with_context(|| format!("{flag} {spec}"))?);
                        connected.push((bucket.clone(), s3.clone()));
                        s3
                    }
                };
                let staging = tempfile::Builder::new()
                    .prefix(STAGING)
                    .tempdir()
                    .with_context(|| format!("{flag} {spec}: cannot create a temporary folder (set TMPDIR)"))?;
                std::fs::write(staging.path().join(OWNER), me.text()).with_context(|| {
                    format!("{flag} {spec}: cannot write in the temporary folder {}", staging.path().display())
                })?;
                let prefix = crate::source::s3::as_folder(prefix);
                Ok(Place {
                    dir: staging.path().to_path_buf(),
                    remote: Some(Remote { s3, bucket: bucket.clone(), prefix, state_etag: None, _staging: staging }),
                })
            }
        }
    };
    Ok((open_one("--state", state)?, open_one("--out", out)?))
}

impl Place {
    /// `rel` as the user should see it: a local path, or `s3://bucket/key`.
    pub fn shown(&self, rel: &str) -> String {
        match &self.remote {
            Some(r) => r.url(rel),
            None if rel.is_empty() => self.dir.display().to_string(),
            None => self.dir.join(rel).display().to_string(),
        }
    }

    /// STATE: takes the lock.
    pub fn lock(&self, expiry: i64, now: i64) -> Result<lock::Lock> {
        match &self.remote {
            None => lock::acquire(&self.dir, expiry, now),
            Some(r) => lock::acquire_object(r.s3.clone(), &r.bucket, &r.key(lock::FILE), expiry, now),
        }
    }

    /// STATE: reads it (empty for a first run).
    pub fn load_state(&mut self) -> Result<state::State> {
        if let Some(r) = &mut self.remote {
            // Listed before it is read: without s3:ListBucket on the whole bucket, S3 answers a read of a
            // missing key with 403, not 404, and a first run has no state yet.
            let key = r.key(state::FILE);
            let exists = r.s3.list_objects(&r.bucket, &key)?.iter().any(|o| o.key == key);
            if let Some((bytes, etag)) = if exists { r.s3.get_object(&r.bucket, &key)? } else { None } {
                let path = self.dir.join(state::FILE);
                std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
                r.state_etag = Some(etag);
            }
        }
        match &self.remote {
            None => state::load(&self.dir),
            Some(r) => state::load(&self.dir).with_context(|| format!("{} (downloaded)", r.url(state::FILE))),
        }
    }

    /// STATE: the commit.
    pub fn save_state(&mut self, st: &state::State) -> Result<()> {
        state::save(&self.dir, st)?;
        let Some(r) = &mut self.remote else { return Ok(()) };
        let path = self.dir.join(state::FILE);
        let body = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let condition = match r.state_etag.take() {
            Some(etag) => Condition::Unchanged(etag),
            None => Condition::Absent,
        };
        match r.s3.put_object(&r.bucket, &r.key(state::FILE), body, &condition)? {
            Put::Done(etag) => {
                r.state_etag = Some(etag);
                Ok(())
            }
            Put::Refused => bail!(
                "{} changed while this run held the lock: another run broke the lock (this run took longer than \
                 --lock-expiry) and committed. This run's commit is abandoned; run again (the next run cleans up \
                 after both), and give --lock-expiry more than the longest run takes",
                r.url(state::FILE)
            ),
        }
    }

    /// OUT: removes what no commit covers ([`history::is_stale`]). Returns how many were removed.
    pub fn clean(&self, committed: u64, open_parts: &[String]) -> Result<usize> {
        let Some(r) = &self.remote else { return history::clean(&self.dir, committed, open_parts) };
        let mut removed = 0;
        for o in r.s3.list_objects(&r.bucket, &r.prefix)? {
            let rel = &o.key[r.prefix.len()..];
            if history::is_stale(rel, committed, open_parts) {
                r.s3.delete_object(&r.bucket, &o.key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// OUT: uploads what the run wrote since the last upload (nothing to do for a local folder). Every file in
    /// the staging folder is this run's; temporary files (named `.…`) are not uploaded. Uploaded files leave
    /// the staging folder, so a later pass of the same run uploads only its own: an open part that pass
    /// dropped is not uploaded again.
    pub fn publish(&self) -> Result<()> {
        let Some(r) = &self.remote else { return Ok(()) };
        let files: Vec<(String, PathBuf)> = files_under(&self.dir)
            .into_iter()
            .filter(|(rel, _)| !rel.split('/').any(|c| c.starts_with('.')))
            .map(|(rel, path)| (r.key(&rel), path))
            .collect();
        let local: Vec<PathBuf> = files.iter().map(|(_, path)| path.clone()).collect();
        r.s3.put_files(&r.bucket, files).with_context(|| format!("cannot upload OUT to {}", r.url("")))?;
        for path in local {
            std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
        Ok(())
    }

    /// OUT: removes open parts once the state that replaces them is committed. A part that cannot be removed
    /// is left to the next run's [`Place::clean`].
    pub fn drop_parts(&self, parts: &[String]) {
        let Some(r) = &self.remote else { return history::drop_parts(&self.dir, parts) };
        for rel in parts {
            if let Err(e) = r.s3.delete_object(&r.bucket, &r.key(rel)) {
                crate::messages::warn(&format!("{e:#} (the next run removes it)"));
            }
        }
    }
}

/// Removes the staging folders in `temp` of runs on this machine whose process is gone: killed before they
/// could remove them. A folder without an owner note is left alone: its run may be creating it.
fn remove_abandoned_staging(temp: &Path, me: &lock::Holder) {
    let Ok(entries) = std::fs::read_dir(temp) else { return };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(STAGING) {
            continue;
        }
        let dir = entry.path();
        let Ok(owner) = std::fs::read_to_string(dir.join(OWNER)) else { continue };
        if lock::Holder::parse(&owner).is_gone(me) {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => crate::messages::warn(&format!("removed {}, left by a killed run", dir.display())),
                Err(e) => crate::messages::warn(&format!("cannot remove {}, left by a killed run: {e}", dir.display())),
            }
        }
    }
}

/// Every file below `dir`, with its path relative to `dir` (`/`-separated), sorted.
fn files_under(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.filter_map(|e| e.ok()) {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push((rel.to_string_lossy().replace('\\', "/"), p));
            }
        }
    }
    out.sort();
    out
}
