//! Opening local log files for reading, cheaply and without leaving a trace on them.
//!
//! A worker reads the files of one folder in a row (the listing hands them over a folder at a time). On
//! Linux each file is opened relative to its folder, which stays open from one file to the next (`openat`),
//! instead of by its whole path, which walks every folder of the trail layout again
//! (`AWSLogs/o-…/<account>/CloudTrail/<region>/YYYY/MM/DD/`). Files are opened with `O_NOATIME` where the
//! system allows it (files the user owns): the first read of a freshly synced trail otherwise writes every
//! file's access time back to disk, which costs time and changes the evidence an investigation reads.
//! Where either is refused, or elsewhere than Linux, a file is opened by its path as usual.

use std::fs::File;
use std::io;
use std::path::Path;

/// One worker's way of opening files: keeps the folder of the last file open.
#[derive(Default)]
pub struct Opener {
    #[cfg(target_os = "linux")]
    folder: Option<(std::path::PathBuf, File)>,
    /// `O_NOATIME` was refused (files of another user): not asked for again.
    #[cfg(target_os = "linux")]
    noatime_refused: bool,
}

impl Opener {
    /// Opens `path` for reading, as `File::open` does.
    pub fn open(&mut self, path: &Path) -> io::Result<File> {
        #[cfg(target_os = "linux")]
        if let (Some(folder), Some(name)) = (path.parent(), path.file_name()) {
            if !folder.as_os_str().is_empty() {
                if let Some(file) = self.open_in(folder, name) {
                    return file;
                }
            }
        }
        File::open(path)
    }

    /// Opens `name` in `folder`; `None` when the folder itself cannot be opened (then the whole path is
    /// opened instead, for its own error or for a folder that can be passed through but not opened).
    #[cfg(target_os = "linux")]
    fn open_in(&mut self, folder: &Path, name: &std::ffi::OsStr) -> Option<io::Result<File>> {
        use std::os::fd::{AsRawFd, FromRawFd};
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::OpenOptionsExt;
        if self.folder.as_ref().is_none_or(|(open, _)| open != folder) {
            self.folder = None;
            // O_PATH: a handle to walk from, which needs no permission to read the folder's listing.
            let dir =
                std::fs::OpenOptions::new().read(true).custom_flags(libc::O_PATH | libc::O_DIRECTORY).open(folder);
            self.folder = Some((folder.to_owned(), dir.ok()?));
        }
        let dir = self.folder.as_ref()?.1.as_raw_fd();
        let Ok(name) = std::ffi::CString::new(name.as_bytes()) else {
            return Some(Err(io::Error::new(io::ErrorKind::InvalidInput, "file name holds a NUL byte")));
        };
        loop {
            let noatime = if self.noatime_refused { 0 } else { libc::O_NOATIME };
            // SAFETY: `dir` is an open descriptor owned by `self.folder`, and `name` a NUL-terminated string
            // that outlives the call.
            let fd = unsafe { libc::openat(dir, name.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC | noatime) };
            if fd >= 0 {
                // SAFETY: `fd` was just opened and nothing else owns it.
                return Some(Ok(unsafe { File::from_raw_fd(fd) }));
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EPERM) if !self.noatime_refused => self.noatime_refused = true,
                Some(libc::EINTR) => {}
                _ => return Some(Err(err)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn read(opener: &mut Opener, path: &Path) -> io::Result<String> {
        let mut text = String::new();
        opener.open(path)?.read_to_string(&mut text)?;
        Ok(text)
    }

    #[test]
    fn opens_files_across_folders_as_open_by_path_does() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("1.json"), "a1").unwrap();
        std::fs::write(a.join("2.json"), "a2").unwrap();
        std::fs::write(b.join("1.json"), "b1").unwrap();
        std::os::unix::fs::symlink(&b, dir.path().join("link")).unwrap();
        let mut opener = Opener::default();
        for (path, want) in [
            (a.join("1.json"), "a1"),
            (a.join("2.json"), "a2"),
            (b.join("1.json"), "b1"),
            (dir.path().join("link").join("1.json"), "b1"),
            (a.join("1.json"), "a1"),
        ] {
            assert_eq!(read(&mut opener, &path).unwrap(), want, "{}", path.display());
        }
        for missing in [a.join("3.json"), dir.path().join("none").join("1.json")] {
            let err = read(&mut opener, &missing).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound, "{}", missing.display());
        }
        assert!(read(&mut opener, &a).is_err(), "a folder is not a file to read");
    }
}
