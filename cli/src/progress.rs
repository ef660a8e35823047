//! Progress bars on long steps, drawn only when stderr is a terminal.

use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A byte-count bar over a file (compressed bytes for `.zst`), with rows/s in the message.
pub fn file_bar(path: &Path, what: &str) -> ProgressBar {
    let total = std::fs::metadata(path).map_or(0, |m| m.len());
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {msg} ({elapsed})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(what.to_owned());
    bar
}

/// A spinner for a step whose length is unknown (fitting a model).
pub fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
