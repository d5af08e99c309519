//! Local files and folders: folders are walked recursively, subfolders in parallel, each folder's files
//! handed over as it is listed. Hidden entries (`.git`, `.DS_Store`) are not inputs. Symbolic links are
//! followed, to files and to folders (an archive linked into the log folder), except a link to a folder the
//! walk already covers or that covers it: a cycle, or a second way to the same files, is reported as skipped.
//! A broken link fails with its reason, and what is neither file nor folder (a FIFO, a socket) is skipped:
//! nothing under a source goes unmentioned.

use super::layout::Scope;
use super::{FileReport, Location, ObjectRef, Take};
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Lists the files under `root`, handing each folder's to `take` as it is listed, so that the walk holds
/// no more than a few folders' names. Inside a trail layout (`AWSLogs/…/CloudTrail/<region>/YYYY/MM/DD/`),
/// folders the scope cannot need (other accounts, regions, delivery days) are not entered, as for S3.
pub fn list(root: &Path, scope: &Scope, take: Take) -> Result<()> {
    let meta = std::fs::metadata(root).with_context(|| format!("cannot read source {}", root.display()))?;
    if meta.is_file() {
        let (mut objects, mut skipped) = (Vec::new(), Vec::new());
        push(root, Some(&meta), &mut objects, &mut skipped);
        take(objects, skipped);
        return Ok(());
    }
    if !meta.is_dir() {
        bail!("source {} is neither a file nor a folder", root.display());
    }
    let real = std::fs::canonicalize(root).with_context(|| format!("cannot read source {}", root.display()))?;
    let walk = Walk { scope, take: Mutex::new(take), links: Mutex::new(Vec::new()) };
    walk.folder(root);
    // Links to folders are followed after the walk that found them, in the order of the folders they lead
    // to (a folder before the folders inside it, so the one that holds the other is read), then of their
    // names: which of two links to one folder is followed does not depend on the threads' timing.
    let mut walked = vec![real];
    loop {
        let mut links = std::mem::take(&mut *walk.links.lock().expect("no walk panics holding it"));
        if links.is_empty() {
            return Ok(());
        }
        links.sort_unstable_by(|(link_a, real_a), (link_b, real_b)| (real_a, link_a).cmp(&(real_b, link_b)));
        let (mut follow, mut skipped) = (Vec::new(), Vec::new());
        for (link, real) in links {
            match walked.iter().find(|w| real.starts_with(w) || w.starts_with(&real)) {
                Some(covered) => skipped.push(read_by_another_path(&link, &real, covered)),
                None => {
                    walked.push(real);
                    follow.push(link);
                }
            }
        }
        walk.hand_over(Vec::new(), skipped);
        follow.par_iter().for_each(|f| walk.folder(f));
    }
}

/// The report of a `link` not followed: it leads to `real`, which is, is inside or holds `covered`, a folder
/// the walk reads already.
fn read_by_another_path(link: &Path, real: &Path, covered: &Path) -> FileReport {
    let how = if real == covered {
        "is read already".to_owned()
    } else if real.starts_with(covered) {
        format!("is read as part of {}", covered.display())
    } else {
        format!("holds {}, read already", covered.display())
    };
    let reason = format!("not followed: it leads to {}, which {how}", real.display());
    report(link, super::Status::Skipped, reason, READ_BY_ANOTHER_PATH)
}

/// One source's walk: the scope, where listed files go, and the links to folders found and not yet
/// followed, each with the real path of its folder.
struct Walk<'s, 't> {
    scope: &'s Scope,
    take: Mutex<Take<'t>>,
    links: Mutex<Vec<(PathBuf, PathBuf)>>,
}

impl Walk<'_, '_> {
    /// Lists `dir` and hands its files over, then walks its subfolders, in parallel: a trail is tens of
    /// thousands of small files in thousands of date folders.
    fn folder(&self, dir: &Path) {
        let (mut objects, mut skipped) = (Vec::new(), Vec::new());
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                let reason = format!("cannot list folder: {e}");
                skipped.push(report(dir, super::Status::Failed, reason, super::UNREADABLE_FOLDER));
                self.hand_over(objects, skipped);
                return;
            }
        };
        // Each name once: `sort_by_key(|e| e.file_name())` built two names per comparison.
        let mut names: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| (e.file_name(), e)).collect();
        names.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut folders = Vec::new();
        for (name, entry) in names {
            if name.as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let path = entry.path();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                if self.wants_folder(&path) {
                    folders.push(path);
                }
            } else if ft.is_file() {
                // Without metadata the file is listed anyway, so that reading it names the problem.
                push(&path, entry.metadata().ok().as_ref(), &mut objects, &mut skipped);
            } else if ft.is_symlink() {
                self.link(path, &mut objects, &mut skipped);
            } else {
                skipped.push(not_a_file(&path));
            }
        }
        if !objects.is_empty() || !skipped.is_empty() {
            self.hand_over(objects, skipped);
        }
        folders.par_iter().for_each(|f| self.folder(f));
    }

    /// A symbolic link: a file is listed, a folder the scope can need is kept for [`list`] to follow, and
    /// a broken link or one to something else is reported.
    fn link(&self, path: PathBuf, objects: &mut Vec<ObjectRef>, skipped: &mut Vec<FileReport>) {
        let broken =
            |e: std::io::Error| report(&path, super::Status::Failed, format!("broken link: {e}"), super::UNREADABLE);
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => push(&path, Some(&meta), objects, skipped),
            Ok(meta) if meta.is_dir() => {
                if self.wants_folder(&path) {
                    match std::fs::canonicalize(&path) {
                        Ok(real) => self.links.lock().expect("no walk panics holding it").push((path, real)),
                        Err(e) => skipped.push(broken(e)),
                    }
                }
            }
            Ok(_) => skipped.push(not_a_file(&path)),
            Err(e) => skipped.push(broken(e)),
        }
    }

    fn hand_over(&self, objects: Vec<ObjectRef>, skipped: Vec<FileReport>) {
        (self.take.lock().expect("no walk panics holding it"))(objects, skipped);
    }

    /// Whether the scope can need what is below the folder `path` (its account, region and day).
    fn wants_folder(&self, path: &Path) -> bool {
        let as_text = path.to_string_lossy().replace('\\', "/");
        self.scope.wants_path(&format!("{as_text}/"))
    }
}

/// [`FileReport::label`] of a link to a folder the walk already covers.
const READ_BY_ANOTHER_PATH: &str = "folder read by another path";
/// [`FileReport::label`] of an entry that is neither a file nor a folder.
const NOT_A_FILE: &str = "not a regular file";

fn not_a_file(path: &Path) -> FileReport {
    report(path, super::Status::Skipped, "neither a file nor a folder (a FIFO, socket or device)".into(), NOT_A_FILE)
}

fn report(path: &Path, status: super::Status, reason: String, label: &str) -> FileReport {
    FileReport::unread(path.display().to_string(), status, reason, label)
}

fn push(path: &Path, meta: Option<&std::fs::Metadata>, objects: &mut Vec<ObjectRef>, skipped: &mut Vec<FileReport>) {
    let size = meta.map_or(0, |m| m.len());
    let modified = meta
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64);
    // Not `display()`, which goes through the lossy formatter character run by character run (~3k
    // instructions a file); a name that is text is borrowed as it is.
    match FileReport::set_aside_by_name(&path.to_string_lossy(), modified) {
        Some(report) => skipped.push(report),
        None => objects.push(ObjectRef { location: Location::Disk(path.to_path_buf()), size, modified }),
    }
}
