//! Private files: created 0600 in 0700 directories, replaced atomically (write, fsync,
//! rename), and refused when someone else could read them.

use super::{Result, fail};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or_else(|| fail("HOME is not set"))
}

/// `$XDG_CONFIG_HOME/rolegate` (default `~/.config/rolegate`).
pub fn config_dir() -> Result<PathBuf> {
    Ok(
        match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => home()?.join(".config"),
        }
        .join("rolegate"),
    )
}

/// `$XDG_CACHE_HOME/rolegate` (default `~/.cache/rolegate`).
pub fn cache_dir() -> Result<PathBuf> {
    Ok(
        match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => home()?.join(".cache"),
        }
        .join("rolegate"),
    )
}

pub fn private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))
}

/// Reads a private file; None when it does not exist. A file that group or others may read
/// is refused: its secrets may have been seen, and reusing it would hide that.
pub fn read_private(path: &Path) -> Result<Option<Vec<u8>>> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(format!("cannot read {}: {e}", path.display()))),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(fail(format!(
            "{} is readable by other users (mode {mode:o}); its secrets may be exposed. \
             Delete it and sign in again (`rolegate logout; rolegate login`)",
            path.display()
        )));
    }
    fs::read(path)
        .map(Some)
        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))
}

/// Writes `bytes` to `path` as a new 0600 file, then renames it into place: readers see the
/// old file or the new one, never half of one.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().ok_or_else(|| fail("no parent directory"))?;
    private_dir(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        fail(format!("cannot write {}: {e}", path.display()))
    })
}

/// The lock that serializes token refresh and credential fetches for one broker. Held until
/// the returned file is dropped.
pub fn lock(dir: &Path) -> Result<File> {
    private_dir(dir)?;
    let path = dir.join(".lock");
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| fail(format!("cannot open {}: {e}", path.display())))?;
    f.lock()
        .map_err(|e| fail(format!("cannot lock {}: {e}", path.display())))?;
    Ok(f)
}
