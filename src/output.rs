//! The one place plumb writes to the terminal and its own files (clippy's `print_stdout`
//! lint enforces it), and so the one place every secret is masked.

use std::io::{IsTerminal, Write};
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

use crate::render::text::Style;
use crate::resource::mask;

/// Writes to stdout, every secret read in this run masked.
#[allow(clippy::print_stdout)]
pub fn stdout(text: &str) {
    print!("{}", mask(text));
    let _ = std::io::stdout().flush();
}

/// Writes to stderr, every secret read in this run masked.
#[allow(clippy::print_stderr)]
pub fn stderr(text: &str) {
    eprint!("{}", mask(text));
}

/// Writes plan data (a plan file, `--format json`) as it is: a plan holds no secret by
/// construction, and masking a short secret that happens to read `true` or `null` would
/// corrupt the JSON and its digest.
pub fn write_plan_data(path: Option<&Path>, text: &str) -> std::io::Result<()> {
    match path {
        Some(path) => std::fs::write(path, text),
        None => {
            let mut out = std::io::stdout();
            out.write_all(text.as_bytes())?;
            out.flush()
        }
    }
}

/// Writes a file plumb produces (report, job summary), every secret masked.
pub fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, mask(text))
}

/// Appends to a file (the job summary), every secret masked.
pub fn append_file(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(mask(text).as_bytes())
}

/// Colour on a terminal only, and never when `NO_COLOR` is set (<https://no-color.org>).
pub fn stdout_style(verbose: bool) -> Style {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    Style {
        color: std::io::stdout().is_terminal() && !no_color,
        verbose,
    }
}

/// A progress bar on stderr when it is a terminal; nothing in CI logs.
pub fn progress_bar(len: u64, message: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed})")
        .expect("template is valid")
        .progress_chars("=> ");
    ProgressBar::new(len)
        .with_style(style)
        .with_message(message.to_string())
}

pub fn spinner(message: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_message(message.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Asks on the terminal; true only for `yes`.
pub fn confirm(question: &str) -> bool {
    stdout(question);
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok() && answer.trim() == "yes"
}

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}
