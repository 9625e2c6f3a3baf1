//! Storage faults named in error messages: a full disk or a read-only file system is said in
//! words, with the home folder, whatever layer (SQLite, tantivy, a plain file write) hit it.

use std::path::Path;

/// A storage fault recognised in an error chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No space left on the device (or the disk quota is exceeded).
    Full,
    /// The file system is mounted read-only, or the files are not writable.
    ReadOnly,
}

const ENOSPC: i32 = 28;
const EROFS: i32 = 30;
const EDQUOT: i32 = 122;

/// The storage fault behind `e`, if any: an `std::io::Error` in its chain with the errno of a
/// full or read-only file system, or the message of a layer that reports it in words only
/// (SQLite: "database or disk is full", "attempt to write a readonly database").
pub fn classify(e: &anyhow::Error) -> Option<Fault> {
    for cause in e.chain() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.raw_os_error() {
                Some(ENOSPC | EDQUOT) => return Some(Fault::Full),
                Some(EROFS) => return Some(Fault::ReadOnly),
                _ => {}
            }
            match io.kind() {
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                    return Some(Fault::Full);
                }
                std::io::ErrorKind::ReadOnlyFilesystem => return Some(Fault::ReadOnly),
                _ => {}
            }
        }
    }
    let text = format!("{e:#}").to_ascii_lowercase();
    if [
        "no space left on device",
        "database or disk is full",
        "os error 28",
        "disk quota exceeded",
    ]
    .iter()
    .any(|s| text.contains(s))
    {
        return Some(Fault::Full);
    }
    if [
        "read-only file system",
        "readonly database",
        "read-only database",
        "os error 30",
    ]
    .iter()
    .any(|s| text.contains(s))
    {
        return Some(Fault::ReadOnly);
    }
    None
}

/// A sentence to append to the error message when `e` is a storage fault: what happened, where
/// (the home folder), and what to do.
pub fn hint(e: &anyhow::Error, home: &Path) -> Option<String> {
    Some(match classify(e)? {
        Fault::Full => format!(
            "the disk is full (no space left on device): free space on the file system of the home folder {} (or of the output folder named above) and run the command again; what was committed is kept and the next run finishes the rest (`clinrag check` verifies)",
            home.display()
        ),
        Fault::ReadOnly => format!(
            "the file system is read-only (or the files are not writable): remount the home folder {} (or the folder named above) read-write or fix its permissions, then run the command again",
            home.display()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_and_words_are_recognised() {
        let full = anyhow::Error::new(std::io::Error::from_raw_os_error(ENOSPC))
            .context("cannot write /h/index/keyword/x.idx");
        assert_eq!(classify(&full), Some(Fault::Full));
        let ro = anyhow::Error::new(std::io::Error::from_raw_os_error(EROFS));
        assert_eq!(classify(&ro), Some(Fault::ReadOnly));
        let sqlite =
            anyhow::anyhow!("error returned from database: (code: 13) database or disk is full");
        assert_eq!(classify(&sqlite), Some(Fault::Full));
        let sqlite = anyhow::anyhow!("(code: 8) attempt to write a readonly database");
        assert_eq!(classify(&sqlite), Some(Fault::ReadOnly));
        let other = anyhow::Error::new(std::io::Error::from_raw_os_error(2));
        assert_eq!(classify(&other), None);
        let h = hint(&full, Path::new("/h")).unwrap();
        assert!(h.contains("disk is full") && h.contains("/h"), "{h}");
    }
}
