//! Local files and folders: folders are walked recursively in sorted order, subfolders in parallel. Hidden
//! entries (`.git`, `.DS_Store`) are not inputs. Symbolic links to files are followed; links to folders are
//! not, so a link cycle cannot make the walk endless.

use super::layout::Scope;
use super::{not_event_log, FileReport, Location, ObjectRef};
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use std::path::Path;

/// Lists the files under `root`. Inside a trail layout (`AWSLogs/…/CloudTrail/<region>/YYYY/MM/DD/`), folders
/// the scope cannot need (other accounts, regions, delivery days) are not entered, as for S3.
pub fn list(root: &Path, scope: &Scope, objects: &mut Vec<ObjectRef>, skipped: &mut Vec<FileReport>) -> Result<()> {
    let meta = std::fs::metadata(root).with_context(|| format!("cannot read source {}", root.display()))?;
    if meta.is_file() {
        push(root, Some(&meta), objects, skipped);
        return Ok(());
    }
    if !meta.is_dir() {
        bail!("source {} is neither a file nor a folder", root.display());
    }
    let (found, unread) = walk(root, scope);
    objects.extend(found);
    skipped.extend(unread);
    Ok(())
}

/// The files under `dir`, in name order, each folder's files before its subfolders. Subfolders are listed
/// in parallel: a trail is tens of thousands of small files in thousands of date folders.
fn walk(dir: &Path, scope: &Scope) -> (Vec<ObjectRef>, Vec<FileReport>) {
    let (mut objects, mut skipped) = (Vec::new(), Vec::new());
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            skipped.push(FileReport {
                path: dir.display().to_string(),
                status: super::Status::Failed,
                records: 0,
                reason: Some(format!("cannot list folder: {e}")),
                label: Some(super::UNREADABLE_FOLDER.into()),
                shape: None,
            });
            return (objects, skipped);
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
            let as_text = path.to_string_lossy().replace('\\', "/");
            if scope.wants_path(&format!("{as_text}/")) {
                folders.push(path);
            }
        } else if ft.is_file() {
            // Without metadata the file is listed anyway, so that reading it names the problem.
            push(&path, entry.metadata().ok().as_ref(), &mut objects, &mut skipped);
        } else if ft.is_symlink() && path.is_file() {
            push(&path, std::fs::metadata(&path).ok().as_ref(), &mut objects, &mut skipped);
        }
    }
    let below: Vec<_> = folders.par_iter().map(|f| walk(f, scope)).collect();
    for (found, unread) in below {
        objects.extend(found);
        skipped.extend(unread);
    }
    (objects, skipped)
}

fn push(path: &Path, meta: Option<&std::fs::Metadata>, objects: &mut Vec<ObjectRef>, skipped: &mut Vec<FileReport>) {
    let size = meta.map_or(0, |m| m.len());
    let modified = meta
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64);
    // `display()` goes through the lossy formatter character run by character run: ~3k instructions a file.
    let display = path.to_str().map_or_else(|| path.display().to_string(), str::to_owned);
    match not_event_log(&display) {
        Some(label) => skipped.push(FileReport::skipped(display, label, format!("{label} file, not API events"))),
        None => objects.push(ObjectRef { location: Location::Disk(path.to_path_buf()), size, modified }),
    }
}
