//! Local files and folders: folders are walked recursively, subfolders in parallel, each folder's files
//! handed over as it is listed. Hidden entries (`.git`, `.DS_Store`) are not inputs. Symbolic links to files
//! are followed; links to folders are not, so a link cycle cannot make the walk endless.

use super::layout::Scope;
use super::{FileReport, Location, ObjectRef, Take};
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use std::path::Path;
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
    walk(root, scope, &Mutex::new(take));
    Ok(())
}

/// Lists `dir` and hands its files over, then its subfolders, in parallel: a trail is tens of thousands of
/// small files in thousands of date folders.
fn walk(dir: &Path, scope: &Scope, take: &Mutex<Take>) {
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
                delivered: None,
            });
            (take.lock().expect("no walk panics holding it"))(objects, skipped);
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
    if !objects.is_empty() || !skipped.is_empty() {
        (take.lock().expect("no walk panics holding it"))(objects, skipped);
    }
    folders.par_iter().for_each(|f| walk(f, scope, take));
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
