//! `--history s3://bucket/prefix`: the history's Parquet parts mirrored into a local cache folder, which
//! the local reader ([`history::read`]) then answers from.
//!
//! The mirror lives in `$XDG_CACHE_HOME/trailscan/history/<id>` (else `~/.cache/…`, else the temporary
//! folder), one per endpoint, bucket and prefix. Each question lists `PREFIX/history/` once and downloads only
//! the parts whose ETag changed since the last question (a nightly run adds a few parts and replaces its
//! open parts); parts no longer in S3 are removed from the mirror, so it never answers with a part a later
//! run replaced. Only keys shaped like history parts are mirrored (`history/<table>/<partition>/<name>.parquet`):
//! a key can never name a path outside the mirror.

use super::history;
use crate::source::s3::{Fetched, S3Options, S3};
use crate::source::{Location, ObjectRef};
use crate::write;
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Threads writing downloaded parts to disk at once.
const SAVERS: usize = 16;

/// The mirror's record of what it holds: path relative to the mirror → the version (ETag) downloaded.
const MANIFEST: &str = ".manifest.json";

/// Whether `rel` (a key below the prefix) is a history part, safe to use as a relative path.
fn is_part(rel: &str) -> bool {
    let c: Vec<&str> = rel.split('/').collect();
    let plain = |s: &str| !s.is_empty() && !s.starts_with('.') && !s.contains('\\');
    c.len() == 4
        && c[0] == "history"
        && history::TABLES.contains(&c[1])
        && plain(c[2])
        && plain(c[3])
        && c[3].ends_with(".parquet")
}

fn cache_root() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("trailscan").join("history")
}

/// The mirror folder of one history.
fn folder(aws: &S3Options, bucket: &str, prefix: &str) -> PathBuf {
    let mut h = Sha256::new();
    h.update(format!("{}\n{bucket}\n{prefix}", aws.endpoint_url.as_deref().unwrap_or("")).as_bytes());
    let id: String = h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect();
    cache_root().join(id)
}

/// Brings the mirror of `s3://bucket/prefix`'s history up to date; returns the folder to read it from
/// (it has OUT's layout).
pub fn sync(bucket: &str, prefix: &str, aws: &S3Options) -> Result<PathBuf> {
    let url = if prefix.is_empty() { format!("s3://{bucket}") } else { format!("s3://{bucket}/{prefix}") };
    let prefix = crate::source::s3::as_folder(prefix);
    let root = folder(aws, bucket, &prefix);
    std::fs::create_dir_all(&root).with_context(|| {
        format!("--history {url}: cannot create the cache folder {} (set XDG_CACHE_HOME)", root.display())
    })?;
    let s3 = S3::connect_to(aws, bucket).with_context(|| format!("--history {url}"))?;
    let parts: BTreeMap<String, (u64, String)> = s3
        .list_objects(bucket, &format!("{prefix}history/"))?
        .into_iter()
        .filter_map(|o| {
            let rel = o.key[prefix.len()..].to_owned();
            is_part(&rel).then_some((rel, (o.size, o.version)))
        })
        .collect();
    if parts.is_empty() {
        bail!(
            "--history {url}: no history there (no Parquet parts below s3://{bucket}/{prefix}history/): give the \
             --out of `trailscan nightly`"
        );
    }

    let manifest_path = root.join(MANIFEST);
    let mut manifest: BTreeMap<String, String> =
        std::fs::read(&manifest_path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    // Whatever S3 no longer has goes, whether or not the manifest knows it.
    for (rel, path) in history::files(&root) {
        if !parts.contains_key(&rel) {
            std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    manifest.retain(|rel, _| parts.contains_key(rel));

    let todo: Vec<ObjectRef> = parts
        .iter()
        .filter(|(rel, (_, version))| manifest.get(*rel) != Some(version) || !root.join(rel).is_file())
        .map(|(rel, (size, _))| {
            let key = format!("{prefix}{rel}");
            ObjectRef { location: Location::S3 { bucket: bucket.to_owned(), key }, size: *size, modified: None }
        })
        .collect();
    // Each part is written to disk and flushed as it arrives, by several threads: a year of history is
    // thousands of parts, and one flush after another would take longer than downloading them.
    let arriving = Mutex::new(s3.fetch(todo));
    let saved: Vec<Result<String, String>> = std::thread::scope(|scope| {
        let savers: Vec<_> = (0..SAVERS)
            .map(|_| {
                scope.spawn(|| {
                    let mut saved = Vec::new();
                    loop {
                        // The lock is let go before the part is written, so that the others can take theirs.
                        let next = arriving.lock().expect("not poisoned").next();
                        let Some(part) = next else { return saved };
                        saved.push(save_part(&root, &prefix, part));
                    }
                })
            })
            .collect();
        savers.into_iter().flat_map(|s| s.join().expect("a part saver panicked")).collect()
    });
    let (mut fetched, mut failed) = (Vec::new(), Vec::new());
    for part in saved {
        match part {
            Ok(rel) => fetched.push(rel),
            Err(e) => failed.push(e),
        }
    }
    if let Err(e) = arriving.into_inner().expect("not poisoned").complete() {
        failed.push(e.to_string());
    }
    for rel in fetched {
        let version = parts[&rel].1.clone();
        manifest.insert(rel, version);
    }
    // Recorded even when some download failed: the next question fetches only what is still missing.
    write::atomically(&manifest_path, |w| Ok(serde_json::to_writer(w, &manifest)?))?;
    if let Some(first) = failed.first() {
        bail!("--history {url}: {} part(s) could not be downloaded, the first: {first}", failed.len());
    }
    Ok(root)
}

/// Writes a fetched part into the mirror: its path relative to the mirror, or what went wrong.
fn save_part(root: &Path, prefix: &str, part: Fetched) -> Result<String, String> {
    let Location::S3 { key, .. } = &part.object.location else { return Err("not an S3 object".into()) };
    let rel = key[prefix.len()..].to_owned();
    match part.bytes.map_err(anyhow::Error::msg).and_then(|b| save(&root.join(&rel), &b)) {
        Ok(()) => Ok(rel),
        Err(e) => Err(format!("{}: {e:#}", part.object.display())),
    }
}

fn save(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().expect("a part has a folder");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write::atomically(path, |w| Ok(w.write_all(bytes)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_history_parts_are_mirrored() {
        for (rel, want) in [
            ("history/sessions/dt=2026-11-21/part-000001.parquet", true),
            ("history/flags/dt=2026-11-21/open-000002.parquet", true),
            ("history/sessions/dt=2026-11-21/.part-000001.parquet.7.tmp", false),
            ("history/sessions/../../../etc/passwd.parquet", false),
            ("history/sessions/../x.parquet", false),
            ("history/sessions/dt=2026-11-21/sub/part.parquet", false),
            ("history/other/dt=2026-11-21/part-000001.parquet", false),
            ("history/sessions//part-000001.parquet", false),
            ("history/sessions/dt=x/notes.txt", false),
            ("bundles/run-000001-x/tables/sessions.parquet", false),
        ] {
            assert_eq!(is_part(rel), want, "{rel}");
        }
    }

    #[test]
    fn one_mirror_per_endpoint_bucket_and_prefix() {
        let aws = S3Options::default();
        let local = S3Options { endpoint_url: Some("http://127.0.0.1:9000".into()), ..S3Options::default() };
        let a = folder(&aws, "b", "p/");
        assert_eq!(a, folder(&aws, "b", "p/"));
        assert_ne!(a, folder(&aws, "b", "q/"));
        assert_ne!(a, folder(&aws, "c", "p/"));
        assert_ne!(a, folder(&local, "b", "p/"));
    }
}
