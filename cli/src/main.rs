//! `fraud`: the command a person runs locally. A thin layer over `fraud-core`.

mod backtest;
mod decisions;
mod error;
mod eval;
mod generate;
mod policy;
mod progress;
mod promote;
mod replay;
mod report;
mod serve;
mod sigv4;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use error::CliResult;

#[derive(Parser, Debug)]
#[command(
    name = "fraud",
    version,
    about = "Real-time credit-card fraud scoring: train, evaluate, serve"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model on a labelled Kaggle-layout CSV (.csv or .csv.zst).
    Train(train::TrainArgs),
    /// Score a CSV with a model; with labels, also write metrics.
    Eval(eval::EvalArgs),
    /// Generate fraudTrain.csv and fraudTest.csv with the built-in simulator of the Kaggle data.
    Generate(generate::GenerateArgs),
    /// Serve the scoring API (POST /predict) on this machine.
    Serve(serve::ServeArgs),
    /// Print the decision log of `fraud serve` (its database file) as JSON lines.
    Decisions(decisions::DecisionsArgs),
    /// Post every row of a file to a deployed /predict; write the rows with the answers.
    Replay(replay::ReplayArgs),
    /// The monitoring report of a scored file: metrics, curves, metrics over time, data drift.
    Report(report::ReportArgs),
    /// The decision policy: fit its thresholds from dollars, check it, publish it, card keys.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Replay a policy on a labelled file: what each list and rule decided, in dollars.
    Backtest(backtest::BacktestArgs),
    /// Make a trained model version the champion (models/champion.json) in the bucket or a directory.
    Promote(promote::PromoteArgs),
}

fn run(cli: Cli) -> CliResult<()> {
    match cli.command {
        Command::Train(args) => train::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Generate(args) => generate::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Decisions(args) => decisions::run(&args),
        Command::Promote(args) => promote::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Policy(command) => policy::run(&command),
        Command::Backtest(args) => backtest::run(&args),
    }
}

fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of stdout goes away (`fraud ... | head`)
    // instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
