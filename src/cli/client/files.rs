//! Private files: created 0600 in 0700 directories, replaced atomically (write, fsync,
//! rename), and refused when someone else could read them.
//!
//! Every file is written through a fresh temporary opened with `O_CREAT|O_EXCL|O_NOFOLLOW`
//! under a random name, so a symlink planted where the temporary goes is never followed (a
//! predictable name once let a planted link redirect the write to any file the user owns).
//! A directory the CLI writes into must belong to the user and be writable by nobody else:
//! otherwise another account could swap files or links under it between our checks.

use super::{Result, fail};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or_else(|| fail("HOME is not set"))
}

/// `$XDG_CONFIG_HOME/rolegate` (default `~/.config/rolegate`).
pub(crate) fn config_dir() -> Result<PathBuf> {
    Ok(
        match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => home()?.join(".config"),
        }
        .join("rolegate"),
    )
}

/// `$XDG_CACHE_HOME/rolegate` (default `~/.cache/rolegate`).
pub(crate) fn cache_dir() -> Result<PathBuf> {
    Ok(
        match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => home()?.join(".cache"),
        }
        .join("rolegate"),
    )
}

/// Creates `dir` (0700) if needed, then checks it is safe to write into.
pub(crate) fn private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
    check_dir(dir)
}

/// Refuses a directory that another user owns or that group or others may write: they could
/// replace what we write there, or plant links. The message says what to fix.
pub(crate) fn check_dir(dir: &Path) -> Result<()> {
    check(dir, false)
}

/// As [`check_dir`], for a directory the user chose for a file other programs read too
/// (`AWS_CONFIG_FILE=/tmp/…`): one owned by root and sticky, like /tmp, is accepted. Others may
/// write into a sticky directory but not rename or delete what is ours, and every file is
/// created O_EXCL|O_NOFOLLOW and renamed into place, so a planted name makes the write fail,
/// never go astray. rolegate's own state directories stay private ([`check_dir`]).
pub(crate) fn check_shared_dir(dir: &Path) -> Result<()> {
    check(dir, true)
}

fn check(dir: &Path, sticky_ok: bool) -> Result<()> {
    let meta =
        fs::metadata(dir).map_err(|e| fail(format!("cannot read {}: {e}", dir.display())))?;
    if !meta.is_dir() {
        return Err(fail(format!("{} is not a directory", dir.display())));
    }
    let me = rustix::process::geteuid().as_raw();
    let mode = meta.permissions().mode() & 0o7777;
    let sticky = sticky_ok && mode & 0o1000 != 0;
    // A sticky directory may be root's (as /tmp is): only root could then change it.
    if meta.uid() != me && !(sticky && meta.uid() == 0) {
        return Err(fail(format!(
            "{} belongs to uid {}, not to you (uid {me}); another user could change what \
             rolegate writes there. Fix its owner (`chown {me} {}`) or use another directory",
            dir.display(),
            meta.uid(),
            dir.display()
        )));
    }
    if mode & 0o022 != 0 && !sticky {
        return Err(fail(format!(
            "{} is writable by other users (mode {mode:o}); they could replace what rolegate \
             writes there. Run `chmod go-w {}`, or use another directory",
            dir.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// Reads a private file; None when it does not exist. A file that group or others may read
/// is refused: its secrets may have been seen, and reusing it would hide that.
pub(crate) fn read_private(path: &Path) -> Result<Option<Vec<u8>>> {
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
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().ok_or_else(|| fail("no parent directory"))?;
    private_dir(dir)?;
    replace(path, bytes, 0o600)
}

/// A new file next to `path` that did not exist before: O_EXCL refuses any existing entry,
/// a symlink included, and O_NOFOLLOW says so twice.
fn create_temp(path: &Path, mode: u32) -> std::io::Result<(PathBuf, File)> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let mut last = None;
    for _ in 0..8 {
        let tmp = dir.join(format!(
            ".{name}.{}.tmp",
            hex::encode(rand::random::<[u8; 8]>())
        ));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no temporary file name was free")))
}

/// Atomically replaces `path` with `bytes` at `mode` (exactly: the umask does not apply).
/// The caller has checked the directory.
pub(crate) fn replace(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let (tmp, mut f) = create_temp(path, mode & 0o600)
        .map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
    let mut write = || -> std::io::Result<()> {
        f.set_permissions(fs::Permissions::from_mode(mode))?;
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
pub(crate) fn lock(dir: &Path) -> Result<File> {
    private_dir(dir)?;
    let path = dir.join(".lock");
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| fail(format!("cannot open {}: {e}", path.display())))?;
    f.lock()
        .map_err(|e| fail(format!("cannot lock {}: {e}", path.display())))?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_config_in_a_sticky_shared_directory_is_usable_a_plain_shared_one_is_not_swap_attack() {
        let d = tempfile::tempdir().unwrap();
        fs::set_permissions(d.path(), fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(
            check_shared_dir(d.path()).is_ok(),
            "like /tmp: ours cannot be renamed"
        );
        assert!(
            check_dir(d.path()).is_err(),
            "rolegate's own state stays private"
        );
        fs::set_permissions(d.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let e = check_shared_dir(d.path()).unwrap_err();
        assert!(e.0.contains("chmod go-w"), "{}", e.0);
    }

    fn private_tempdir() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::set_permissions(d.path(), fs::Permissions::from_mode(0o700)).unwrap();
        d
    }

    /// The attack: the temporary's name was `.<name>.<pid>.tmp`, opened with O_TRUNC and
    /// following links, so a link planted there overwrote the file it pointed to.
    #[test]
    fn write_private_does_not_follow_a_symlink_planted_at_its_temp_path() {
        let d = private_tempdir();
        let victim = d.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let target = d.path().join("creds.json");
        let planted = d
            .path()
            .join(format!(".creds.json.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        write_private(&target, b"{}").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::read(&target).unwrap(), b"{}");
        let meta = fs::symlink_metadata(&target).unwrap();
        assert!(meta.is_file(), "a regular file, not a link");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn temporaries_never_open_an_existing_entry() {
        let d = private_tempdir();
        let victim = d.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let (tmp, _) = create_temp(&d.path().join("f"), 0o600).unwrap();
        fs::remove_file(&tmp).unwrap();
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        let again = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp);
        assert!(again.is_err(), "O_EXCL refuses the planted link");
    }

    /// The attack: anyone who can write the directory can swap a file or link in between
    /// the CLI's check and its use.
    #[test]
    fn write_private_refuses_a_directory_others_can_write_swap_attack() {
        let d = private_tempdir();
        let shared = d.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
        let e = write_private(&shared.join("creds.json"), b"{}").unwrap_err();
        assert!(e.0.contains("chmod go-w"), "{}", e.0);
        assert!(!shared.join("creds.json").exists());
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(write_private(&shared.join("creds.json"), b"{}").is_err());
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o755)).unwrap();
        write_private(&shared.join("creds.json"), b"{}").unwrap();
    }
}
