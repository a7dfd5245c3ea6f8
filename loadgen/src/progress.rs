//! Progress display: indicatif bars on a terminal; on a log (CI, a file) plain lines every few
//! seconds instead, since a bar redrawn in place makes no sense there.

use indicatif::{ProgressBar, ProgressStyle};
use std::{
    io::IsTerminal,
    time::{Duration, Instant},
};

/// Whether stderr is a terminal.
pub(crate) fn interactive() -> bool {
    std::io::stderr().is_terminal()
}

/// A progress bar of `len` steps labelled `what` (hidden when stderr is not a terminal; the
/// label is then printed once).
pub(crate) fn bar(len: u64, what: &str) -> ProgressBar {
    if !interactive() {
        eprintln!("[loadgen] {what} ({len})");
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("[loadgen] {msg:<28} [{bar:30}] {pos}/{len} ({elapsed})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// The live status line of a run.
pub(crate) struct Live {
    bar: Option<ProgressBar>,
    last_plain: Instant,
}

impl Live {
    pub(crate) fn new() -> Self {
        let bar = interactive().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(ProgressStyle::with_template("[loadgen] {msg}").expect("valid template"));
            bar
        });
        Self { bar, last_plain: Instant::now() }
    }

    /// Shows `line`: redrawn in place on a terminal, printed every 5 s otherwise.
    pub(crate) fn update(&mut self, line: String) {
        match &self.bar {
            Some(bar) => bar.set_message(line),
            None if self.last_plain.elapsed() >= Duration::from_secs(5) => {
                eprintln!("[loadgen] {line}");
                self.last_plain = Instant::now();
            }
            None => {}
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
