//! Checks of what a command line alone decides, shared by the commands.
//!
//! Every command runs in two stages, the shape of ripgrep's
//! arguments → validated configuration → run: first everything its
//! arguments decide by themselves (flags that contradict each other, an
//! output that names one of the inputs, values out of range), then the
//! files. A wrong command line then fails at once, with exit 2 and a
//! message naming the flags, instead of after a large inventory was loaded
//! or, worse, after an input was overwritten. Each command's own checks
//! live in a `validate_*` / `resolve_*` / `check_*_args` function next to
//! it; the ones several commands share are here.
//!
//! Conflicts clap can state by itself (`conflicts_with`, `requires`) stay
//! clap's; these are the ones that depend on a value.

use std::path::Path;

use super::{fail, Failure};

/// Refuses an output `flag` that names one of `inputs`: the command would
/// overwrite what it reads (`-` is stdout or stdin, never a file).
pub(super) fn not_an_input(
    flag: &str,
    output: Option<&Path>,
    inputs: &[Option<&Path>],
) -> Result<(), Failure> {
    let Some(output) = output.filter(|p| p.as_os_str() != "-") else { return Ok(()) };
    match inputs.iter().flatten().find(|input| same_file(input, output)) {
        Some(input) => Err(fail(format!(
            "{flag} {}: that is an input of this command; write the result elsewhere",
            input.display()
        ))),
        None => Ok(()),
    }
}

/// Refuses two output flags naming the same file: the second write would
/// replace the first.
pub(super) fn distinct_outputs(outputs: &[(&str, Option<&Path>)]) -> Result<(), Failure> {
    let given: Vec<(&str, &Path)> = outputs
        .iter()
        .filter_map(|(flag, p)| p.filter(|p| p.as_os_str() != "-").map(|p| (*flag, p)))
        .collect();
    for (i, (flag, path)) in given.iter().enumerate() {
        if let Some((other, _)) = given.iter().skip(i + 1).find(|(_, p)| same_file(p, path)) {
            return Err(fail(format!(
                "{flag} and {other} both name {}: give each output its own file",
                path.display()
            )));
        }
    }
    Ok(())
}

/// The same path once made absolute (so `./a.json` is `a.json`, whether
/// or not it exists), or the same existing file (through links). Only
/// metadata is read, never a file's content.
fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    if let (Ok(x), Ok(y)) = (std::path::absolute(a), std::path::absolute(b)) {
        if x == y {
            return true;
        }
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_naming_an_input_is_refused() {
        let input = Some(Path::new("devices.json"));
        let refused = not_an_input("-o", Some(Path::new("devices.json")), &[None, input]);
        let message = refused.map_err(|e| e.to_string()).err().unwrap_or_default();
        assert_eq!(message, "-o devices.json: that is an input of this command; write the result elsewhere");
        assert!(not_an_input("-o", Some(Path::new("./devices.json")), &[input]).is_err());
        assert!(not_an_input("-o", Some(Path::new("out.json")), &[input]).is_ok());
        assert!(not_an_input("-o", Some(Path::new("-")), &[Some(Path::new("-"))]).is_ok());
        assert!(not_an_input("-o", None, &[input]).is_ok());
    }

    #[test]
    fn two_outputs_naming_one_file_are_refused() {
        let same =
            distinct_outputs(&[("--out", Some(Path::new("r.html"))), ("-o", Some(Path::new("r.html")))]);
        let message = same.map_err(|e| e.to_string()).err().unwrap_or_default();
        assert_eq!(message, "--out and -o both name r.html: give each output its own file");
        assert!(distinct_outputs(&[("--out", Some(Path::new("r.html"))), ("-o", None)]).is_ok());
        assert!(distinct_outputs(&[("-o", Some(Path::new("-"))), ("--tenant", Some(Path::new("-")))]).is_ok());
    }
}
