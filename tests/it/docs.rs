//! The commands README.md and the guides in `docs/` show, run so the docs cannot rot.
//!
//! - A ```` ```console ```` block is a transcript: each `$ command` is run from a scratch
//!   directory (where `scenarios/` is the repository's) and its output, stdout then stderr,
//!   must be the lines that follow it. `…` on a line of its own stands for any number of lines,
//!   and inside a line for any text. The command must exit 0 unless a `<!-- docs: exit N -->`
//!   line comes right before the block.
//! - A ```` ```sh ```` block is a list of commands a reader types, some of which need a tenant,
//!   a server or another program; each `fleetlab …` command in it (or `cargo run --release -- …`)
//!   is parsed by fleetlab itself (the arguments up to the first pipe or redirection, with
//!   `--help` appended, so that an unknown flag, subcommand or value fails), and every
//!   `scenarios/…` path it names must exist.
//!
//! - `<!-- docs: parse -->` before a console block only parses its commands (a server that runs
//!   until stopped); `<!-- docs: skip -->` skips a block.
//!
//! Placeholders such as `<tenant id>` stand for one argument.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;

type Res = Result<(), Box<dyn Error>>;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fenced block of a Markdown file and where it starts.
struct Block {
    file: String,
    line: usize,
    lang: String,
    marker: Option<String>,
    body: Vec<String>,
}

fn blocks(path: &Path) -> Result<Vec<Block>, Box<dyn Error>> {
    let text = std::fs::read_to_string(path)?;
    let file = path.strip_prefix(repo()).unwrap_or(path).display().to_string();
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    let mut previous = String::new();
    for (i, line) in text.lines().enumerate() {
        match open.as_mut() {
            Some(block) if line.trim_start().starts_with("```") => {
                let _ = block;
                out.extend(open.take());
            }
            Some(block) => block.body.push(line.to_string()),
            None if line.trim_start().starts_with("```") => {
                let lang = line.trim_start().trim_start_matches('`').trim().to_string();
                let marker = previous
                    .trim()
                    .strip_prefix("<!-- docs:")
                    .and_then(|m| m.strip_suffix("-->"))
                    .map(|m| m.trim().to_string());
                open = Some(Block { file: file.clone(), line: i + 1, lang, marker, body: Vec::new() });
            }
            None => {}
        }
        if !line.trim().is_empty() {
            previous = line.to_string();
        }
    }
    Ok(out)
}

fn documents() -> Result<Vec<Block>, Box<dyn Error>> {
    let mut files = vec![repo().join("README.md")];
    let mut guides: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    guides.sort();
    files.extend(guides);
    let mut all = Vec::new();
    for f in files {
        all.extend(blocks(&f)?);
    }
    Ok(all)
}

/// Joins `\`-continued lines and drops a trailing `# comment` outside quotes.
fn logical_lines(body: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in body {
        let line = strip_comment(line);
        if let Some(head) = line.trim_end().strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(&line);
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn strip_comment(line: &str) -> String {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return line[..i].to_string(),
            _ => {}
        }
        prev = c;
    }
    line.to_string()
}

/// The arguments after `fleetlab` (or `cargo run … --`), up to the first shell operator.
fn fleetlab_args(line: &str) -> Option<Vec<String>> {
    let placeholder = regex::Regex::new(r"<[^<>]+>").ok()?;
    let line = placeholder.replace_all(line, "PLACEHOLDER");
    let words = shell_words::split(&line).ok()?;
    let start = if words.first().map(String::as_str) == Some("fleetlab") {
        1
    } else if words.first().map(String::as_str) == Some("cargo")
        && words.get(1).map(String::as_str) == Some("run")
    {
        let end = words.iter().position(|w| w == "--")?;
        // `cargo run --example embed -- …` runs another program.
        if words[..end].iter().any(|w| w == "--example") {
            return None;
        }
        end + 1
    } else {
        return None;
    };
    let ops = ["|", ">", ">>", "2>", "&", "&&", ";", "<"];
    let mut args = Vec::new();
    for w in &words[start..] {
        if ops.contains(&w.as_str()) {
            break;
        }
        // `cmd; }` ends the command at the `;` that shell_words leaves on the word.
        if let Some(last) = w.strip_suffix(';') {
            args.push(last.to_string());
            break;
        }
        args.push(w.clone());
    }
    Some(args)
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_fleetlab")
}

fn parse_only(block: &Block, failures: &mut Vec<String>) {
    for line in logical_lines(&block.body) {
        let Some(args) = fleetlab_args(&line) else { continue };
        for a in &args {
            let path = a.split_once('=').map_or(a.as_str(), |(_, v)| v);
            if path.starts_with("scenarios/") && !repo().join(path).exists() {
                failures.push(format!(
                    "{}:{}: `{line}` names {path}, which does not exist",
                    block.file, block.line
                ));
            }
        }
        let out = Command::new(bin()).args(&args).arg("--help").output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => failures.push(format!(
                "{}:{}: `{line}` does not parse: {}",
                block.file,
                block.line,
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => failures.push(format!("{}:{}: cannot start fleetlab: {e}", block.file, block.line)),
        }
    }
}

/// One `$ command` of a transcript and the output shown under it.
struct Step {
    command: String,
    expected: Vec<String>,
}

fn steps(body: &[String]) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    let mut continuing = false;
    for line in body {
        if let Some(cmd) = line.strip_prefix("$ ") {
            out.push(Step { command: cmd.to_string(), expected: Vec::new() });
            continuing = cmd.trim_end().ends_with('\\');
        } else if let Some(step) = out.last_mut() {
            if continuing {
                step.command.push('\n');
                step.command.push_str(line);
                continuing = line.trim_end().ends_with('\\');
            } else {
                step.expected.push(line.clone());
            }
        }
    }
    out
}

fn line_matches(expected: &str, actual: &str) -> bool {
    let expected = expected.trim_end();
    let actual = actual.trim_end();
    if !expected.contains('…') {
        return expected == actual;
    }
    let pattern: Vec<String> = expected.split('…').map(regex::escape).collect();
    regex::Regex::new(&format!("^{}$", pattern.join(".*"))).is_ok_and(|r| r.is_match(actual))
}

/// Whether `actual` is `expected`, where a line `…` matches any number of lines.
fn transcript_matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.iter().all(|l| l.trim().is_empty()),
        Some((first, rest)) if first.trim() == "…" => {
            (0..=actual.len()).any(|skip| transcript_matches(rest, &actual[skip..]))
        }
        Some((first, rest)) => actual
            .split_first()
            .is_some_and(|(a, more)| line_matches(first, a) && transcript_matches(rest, more)),
    }
}

fn scratch() -> Result<tempfile::TempDir, Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    std::os::unix::fs::symlink(repo().join("scenarios"), dir.path().join("scenarios"))?;
    Ok(dir)
}

fn run_transcript(block: &Block, failures: &mut Vec<String>) -> Res {
    let want_exit: i32 = block
        .marker
        .as_deref()
        .and_then(|m| m.strip_prefix("exit "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let bin_dir = Path::new(bin()).parent().ok_or("binary has no directory")?;
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    for step in steps(&block.body) {
        let dir = scratch()?;
        // A command that never ends (a server) must not hang the suite.
        let out = Command::new("timeout")
            .args(["600", "sh", "-c"])
            .arg(&step.command)
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("NO_COLOR", "1")
            .env("COLUMNS", "100")
            .output()?;
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let lines: Vec<&str> = text.lines().collect();
        let code = out.status.code().unwrap_or(-1);
        let expected: Vec<String> = step
            .expected
            .iter()
            .rev()
            .skip_while(|l| l.trim().is_empty())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .cloned()
            .collect();
        if code != want_exit || !transcript_matches(&expected, &lines) {
            failures.push(format!(
                "{}:{}: `{}` exited {code} (expected {want_exit}) and printed:\n{text}\nexpected:\n{}",
                block.file,
                block.line,
                step.command,
                expected.join("\n")
            ));
        }
    }
    Ok(())
}

#[test]
fn every_command_the_docs_show_parses() -> Res {
    let mut failures = Vec::new();
    for block in documents()?.iter().filter(|b| b.marker.as_deref() != Some("skip")) {
        if block.lang == "sh" {
            parse_only(block, &mut failures);
        } else if block.lang == "console" && block.marker.as_deref() == Some("parse") {
            let commands: Vec<String> = steps(&block.body).into_iter().map(|s| s.command).collect();
            parse_only(
                &Block {
                    body: commands,
                    lang: "sh".into(),
                    marker: None,
                    file: block.file.clone(),
                    line: block.line,
                },
                &mut failures,
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    Ok(())
}

#[test]
fn every_transcript_the_docs_show_is_what_fleetlab_prints() -> Res {
    let mut failures = Vec::new();
    let transcripts: Vec<Block> = documents()?
        .into_iter()
        .filter(|b| b.lang == "console" && !matches!(b.marker.as_deref(), Some("skip" | "parse")))
        .collect();
    assert!(transcripts.len() >= 5, "the docs show only {} transcripts", transcripts.len());
    for block in &transcripts {
        run_transcript(block, &mut failures)?;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    Ok(())
}

#[test]
fn the_readme_is_a_landing_page() -> Res {
    let readme = std::fs::read_to_string(repo().join("README.md"))?;
    assert!(readme.chars().count() < 10_000, "README.md has {} characters", readme.chars().count());
    for guide in regex::Regex::new(r"\]\((docs/[^)#]+)")?.captures_iter(&readme) {
        assert!(repo().join(&guide[1]).exists(), "README links to {}, which does not exist", &guide[1]);
    }
    Ok(())
}

#[test]
fn a_transcript_that_differs_is_caught() {
    let expected = vec!["a".to_string(), "…".to_string(), "x … z".to_string()];
    assert!(transcript_matches(&expected, &["a", "b", "c", "x y z"]));
    assert!(transcript_matches(&expected, &["a", "x  z"]));
    assert!(!transcript_matches(&expected, &["a", "b", "x y"]));
    assert!(!transcript_matches(&expected, &["b", "x y z"]));
    assert_eq!(
        fleetlab_args(&strip_comment(
            "fleetlab flow show --tenant t.toml --format dot | dot -Tsvg > k.svg  # draw"
        )),
        Some(
            vec!["flow", "show", "--tenant", "t.toml", "--format", "dot"]
                .into_iter()
                .map(String::from)
                .collect()
        )
    );
    assert_eq!(
        fleetlab_args("cargo run --release -- sync pull --tenant-id <tenant id or domain>"),
        Some(vec!["sync", "pull", "--tenant-id", "PLACEHOLDER"].into_iter().map(String::from).collect())
    );
    assert_eq!(fleetlab_args("cargo run --no-default-features --example embed -- a.json b.toml"), None);
}
