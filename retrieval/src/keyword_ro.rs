//! A tantivy directory for an index on a read-only file system: tantivy takes a lock file
//! (`.tantivy-meta.lock`) even to read `meta.json`, and creating it fails there. No writer can
//! run on a read-only file system, so the lock has nothing to guard: this directory hands out
//! a lock that holds nothing and delegates everything else to [`MmapDirectory`] (writes fail
//! with the file system's own error).

use std::io;
use std::path::Path;
use std::sync::Arc;

use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, WatchCallback, WatchHandle, WritePtr,
};

/// [`MmapDirectory`] without lock files.
#[derive(Debug, Clone)]
pub(crate) struct ReadOnlyDir(pub(crate) MmapDirectory);

impl Directory for ReadOnlyDir {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        self.0.get_file_handle(path)
    }
    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.0.delete(path)
    }
    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.0.exists(path)
    }
    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        self.0.open_write(path)
    }
    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.0.atomic_read(path)
    }
    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.0.atomic_write(path, data)
    }
    fn sync_directory(&self) -> io::Result<()> {
        self.0.sync_directory()
    }
    fn acquire_lock(&self, _lock: &Lock) -> Result<DirectoryLock, LockError> {
        Ok(DirectoryLock::from(Box::new(())))
    }
    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.0.watch(watch_callback)
    }
}

/// Whether `dir`'s lock file cannot be created or opened for writing because the file system
/// is read-only or the folder is not writable.
pub(crate) fn lock_file_unwritable(dir: &Path) -> bool {
    match std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(".tantivy-meta.lock"))
    {
        Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            io::ErrorKind::ReadOnlyFilesystem | io::ErrorKind::PermissionDenied
        ),
    }
}
