//! Progress on stderr, one builder for every command: hidden unless stderr
//! is a terminal and the work is large enough to be worth watching, so
//! pipes and tests see nothing.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar (with a length) or a spinner (without), styled by `template`
/// (indicatif's syntax), showing `message`; hidden when `show` is false or
/// stderr is not a terminal.
pub(crate) fn bar(len: Option<u64>, template: &str, message: String, show: bool) -> ProgressBar {
    if !show || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(if len.is_some() { style.progress_chars("=> ") } else { style });
    }
    bar.set_message(message);
    bar
}

/// Loading a file of `path`'s size: shown for files of 64 MiB and more.
pub(crate) fn loading(path: &std::path::Path) -> ProgressBar {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    bar(
        Some(size),
        "{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
        format!("loading {}", path.display()),
        size >= 64 << 20,
    )
}
