//! `fraud decisions`: the decision log database of `fraud serve` as JSON lines, oldest first.

use std::io::Write;
use std::path::PathBuf;

use fraud_embedded::LocalDecisionLog;

use crate::error::{CliError, CliResult};

#[derive(clap::Args, Debug)]
pub struct DecisionsArgs {
    /// The decision log database (`fraud serve --decision-log`); the server must be stopped.
    #[arg(value_name = "FILE")]
    pub log: PathBuf,
}

pub fn run(args: &DecisionsArgs) -> CliResult<()> {
    if !args.log.is_file() {
        return Err(CliError::Input(format!(
            "{}: no such decision log",
            args.log.display()
        )));
    }
    let log = LocalDecisionLog::open(&args.log)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    log.export(&mut out)?;
    out.flush()
        .map_err(|e| CliError::system("cannot write the decisions", e))
}
