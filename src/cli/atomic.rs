//! Writing output files so that nothing already there is lost or left half
//! written.
//!
//! Design decisions, and why:
//!
//! * **Temporary file, then rename.** Output goes to a temporary file in
//!   the target's directory (the same file system, so the rename is
//!   atomic), is synced, takes the mode of the file it replaces (0644 for a
//!   new one), and is renamed over the target: readers see the old file or
//!   the new one, never half of one.
//! * **Only regular files are replaced.** Renaming over `/dev/null`, a FIFO
//!   or a socket would replace the special file itself (as root, `-o
//!   /dev/null` would leave a regular file where every program expects the
//!   null device), and a directory cannot be a report. A symbolic link is
//!   followed and its target replaced, as a shell redirection would.
//! * **Signals clean up.** While a temporary file exists its path is
//!   registered; SIGINT, SIGTERM and SIGHUP (a closed terminal, `kill`, a
//!   CI timeout) remove every registered file before the process exits
//!   with 128 + the signal number. SIGKILL cannot be caught, so each write
//!   also removes stale temporary files of its own naming
//!   (`.<name>.fleetlab-<pid>-<random>.tmp`) whose process is gone.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};

/// Temporary files being written now.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static HANDLER: Once = Once::new();

/// Writes `bytes` to a temporary file beside `path`, then renames it over
/// `path`: readers see the old file or the new one, never half of one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// Like [`write_atomic`], for output produced by streaming into the file.
pub(crate) fn write_atomic_with<T>(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> io::Result<T>,
) -> io::Result<T> {
    let target = replaceable(path)?;
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name =
        target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "output".into());
    let prefix = format!(".{name}.fleetlab-");
    remove_stale(&dir, &prefix);
    HANDLER.call_once(install_handler);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!("{prefix}{}-", std::process::id()))
        .suffix(".tmp")
        .tempfile_in(&dir)?;
    let registered = tmp.path().to_path_buf();
    register(&registered, true);
    let result = finish(&mut tmp, &target, write);
    let out = match result {
        Ok(out) => tmp.persist(&target).map(|_| out).map_err(|e| e.error),
        Err(e) => Err(e),
    };
    register(&registered, false);
    out
}

fn finish<T>(
    tmp: &mut tempfile::NamedTempFile,
    target: &Path,
    write: impl FnOnce(&mut std::fs::File) -> io::Result<T>,
) -> io::Result<T> {
    let out = write(tmp.as_file_mut())?;
    tmp.as_file().sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Temporary files are created 0600; a report replacing a file keeps
        // that file's mode, a new one gets the usual 0644.
        let mode = std::fs::metadata(target).map_or(0o644, |m| m.permissions().mode() & 0o7777);
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    Ok(out)
}

/// The path to write: `path`, or the file a symbolic link points at; an
/// error when something other than a regular file is there.
fn replaceable(path: &Path) -> io::Result<PathBuf> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {
            let link = std::fs::symlink_metadata(path).is_ok_and(|l| l.file_type().is_symlink());
            if link {
                std::fs::canonicalize(path)
            } else {
                Ok(path.to_path_buf())
            }
        }
        Ok(m) if m.is_dir() => Err(io::Error::other("is a directory; give a file name")),
        Ok(_) => Err(io::Error::other(
            "is not a regular file (a device, FIFO or socket) and fleetlab replaces only regular files; \
             write to a file, or to standard output",
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(path.to_path_buf()),
        Err(e) => Err(e),
    }
}

fn register(path: &Path, live: bool) {
    if let Ok(mut files) = LIVE.lock() {
        if live {
            files.push(path.to_path_buf());
        } else {
            files.retain(|p| p != path);
        }
    }
}

/// A thread that waits for SIGINT, SIGTERM or SIGHUP, removes the
/// temporary files being written and exits as the signal would have.
fn install_handler() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else { return };
    let spawned = std::thread::Builder::new().name("fleetlab-signals".into()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            if let Ok(files) = LIVE.lock() {
                for f in files.iter() {
                    let _ = std::fs::remove_file(f);
                }
            }
            std::process::exit(128 + signal);
        }
    });
    drop(spawned);
}

/// Removes `<prefix><pid>-….tmp` files in `dir` whose process has ended.
fn remove_stale(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let me = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(prefix) else { continue };
        if !name.ends_with(".tmp") {
            continue;
        }
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if pid != me && !alive(pid, &entry.path()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether process `pid` may still be writing `file`: on Linux, whether it
/// exists; elsewhere, whether the file changed in the last day.
fn alive(pid: u32, file: &Path) -> bool {
    if Path::new("/proc/self").exists() {
        return Path::new("/proc").join(pid.to_string()).exists();
    }
    let age = std::fs::metadata(file).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
    age.is_none_or(|a| a.as_secs() < 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_and_directories_are_refused_and_links_followed() -> Result<(), Box<dyn std::error::Error>>
    {
        assert!(replaceable(Path::new("/dev/null")).is_err());
        let dir = tempfile::tempdir()?;
        assert!(replaceable(dir.path()).is_err());
        let real = dir.path().join("real.json");
        std::fs::write(&real, "old")?;
        #[cfg(unix)]
        {
            let link = dir.path().join("link.json");
            std::os::unix::fs::symlink(&real, &link)?;
            write_atomic(&link, b"new")?;
            assert!(std::fs::symlink_metadata(&link)?.file_type().is_symlink());
            assert_eq!(std::fs::read_to_string(&real)?, "new");
        }
        Ok(())
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        // pid 4194304 is above Linux's pid_max: never a live process.
        let stale = dir.path().join(".out.json.fleetlab-4194304-abc.tmp");
        let mine = dir.path().join(format!(".out.json.fleetlab-{}-abc.tmp", std::process::id()));
        let other = dir.path().join(".tmpXYZ");
        for f in [&stale, &mine, &other] {
            std::fs::write(f, "x")?;
        }
        write_atomic(&dir.path().join("out.json"), b"{}")?;
        assert!(!stale.exists() || !Path::new("/proc/self").exists());
        assert!(mine.exists() && other.exists());
        Ok(())
    }
}
