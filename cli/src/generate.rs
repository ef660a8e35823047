//! `fraud generate`: a data set in the Kaggle layout from the built-in simulator.

use std::path::PathBuf;
use std::time::Instant;

use fraud_sim::{SimConfig, generate_to_dir};
use indicatif::{ProgressBar, ProgressStyle};

use crate::error::{CliError, CliResult};

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// Number of card holders (1,000 over two years make about 1.9 million rows).
    #[arg(long, default_value_t = 1000)]
    pub customers: u32,
    /// Random seed: the same seed gives byte-identical files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// First day of the date strings (YYYY-MM-DD).
    #[arg(long, default_value = "2019-01-01")]
    pub start: String,
    /// Last day of the date strings, inclusive (YYYY-MM-DD).
    #[arg(long, default_value = "2020-12-31")]
    pub end: String,
    /// Rows from this date and time on go to fraudTest.csv (Kaggle's own boundary by default).
    #[arg(long, default_value = "2020-06-21 12:14:00")]
    pub split: String,
    /// Make `unix_time` the epoch of the date string. By default it stays seven years earlier,
    /// as in the Kaggle files (the generator ran over 2012-2013; see DATA.md).
    #[arg(long)]
    pub unix_time_matches_dates: bool,
    /// Output directory for fraudTrain.csv and fraudTest.csv.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

fn parse(flag: &str, text: &str, what: &str, parsed: Option<i64>) -> CliResult<i64> {
    parsed.ok_or_else(|| CliError::Usage(format!("{flag} {text:?}: expected {what}")))
}

pub fn run(args: &GenerateArgs) -> CliResult<()> {
    let config = SimConfig {
        customers: args.customers,
        seed: args.seed,
        start: parse(
            "--start",
            &args.start,
            "YYYY-MM-DD",
            fraud_core::time::parse_date(&args.start),
        )?,
        end: parse(
            "--end",
            &args.end,
            "YYYY-MM-DD",
            fraud_core::time::parse_date(&args.end),
        )?,
        split: parse(
            "--split",
            &args.split,
            "YYYY-MM-DD HH:MM:SS",
            fraud_core::time::parse_date_time(&args.split),
        )?,
        unix_time_quirk: !args.unix_time_matches_dates,
    };
    let started = Instant::now();
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("generating [{bar:30}] day {pos}/{len} ({elapsed})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let summary = generate_to_dir(&config, &args.out, &|day, days| {
        bar.set_length(days);
        bar.set_position(day);
    })?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let rows = summary.train_rows + summary.test_rows;
    println!(
        "generated {} customers ({} with a fraud episode) in {:.1} s: {:.0} rows/s",
        summary.customers,
        summary.fraud_episodes,
        seconds,
        rows as f64 / seconds
    );
    for (name, n, frauds) in [
        ("fraudTrain.csv", summary.train_rows, summary.train_frauds),
        ("fraudTest.csv", summary.test_rows, summary.test_frauds),
    ] {
        println!(
            "{}: {n} rows, {frauds} frauds ({:.3} %)",
            args.out.join(name).display(),
            100.0 * frauds as f64 / n.max(1) as f64
        );
    }
    Ok(())
}
