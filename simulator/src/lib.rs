//! fraud-sim: a faithful, deterministic, streaming simulator of the Sparkov generator that made
//! the Kaggle "kartik2112/fraud-detection" data, so the product runs end to end on a machine
//! with no Kaggle account.
//!
//! It reproduces the generator's mechanics (../shared/docs/DATA.md, the generator's own tables in
//! `reference/`): customers by census age and gender shares on a uniformly drawn US place, one of
//! 12 profiles by gender, age band and rural/urban; per customer `days x U{min..max}` legitimate
//! transactions spread over the days by weekday x season x year weights, a category and the
//! AM/PM half day from ONE uniform draw, gamma amounts per profile and category (draws under $1
//! replaced by $1-10), a merchant of the category within one degree of home; for about 98 % of
//! customers one fraud episode of two calendar days with `U{min..max}` transactions from the
//! fraud profile, 80 % of them at night (00-03 or 22-23), and the customer's legitimate rows on
//! the fraud days removed.
//!
//! Streaming: the output is produced one day at a time (each customer's daily count is the
//! sequential binomial split of its total over the remaining days, which is exactly the
//! generator's multinomial), so memory holds one day of rows and a small record per customer.
//! Deterministic: every random draw comes from ChaCha8 seeded by (seed, customer, day), so the
//! same seed gives byte-identical files whatever the thread count.
//!
//! The `unix_time` quirk of the Kaggle files is kept by default: the generator ran over
//! 2012-01-01..2013-12-31 and the date strings were moved seven calendar years later afterwards
//! (2012-02-29 became 2019-02-28), so `unix_time` is in 2012/13 and weekdays follow that calendar.

mod customer;
mod reference;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use fraud_core::time::{DAY, civil_from_days, days_from_civil, format_date_time};
use rayon::prelude::*;

use customer::{Customer, Row};
use reference::Reference;

pub use reference::csv_field;

/// Years between the generator's calendar and the date strings (the Kaggle quirk).
pub const QUIRK_YEARS: i32 = 7;

#[derive(Debug, Clone, thiserror::Error)]
pub enum SimError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("invalid {name} = {value}: {reason}")]
    InvalidConfig {
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error("embedded reference data {file}: {reason}")]
    Reference { file: String, reason: String },
}

/// What to generate. Dates are in the calendar of the output's date strings.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub customers: u32,
    pub seed: u64,
    /// First day (days since 1970-01-01).
    pub start: i64,
    /// Last day, inclusive.
    pub end: i64,
    /// Rows whose `trans_date_trans_time` is at or after this (epoch seconds of the date string)
    /// go to `fraudTest.csv`, the others to `fraudTrain.csv`.
    pub split: i64,
    /// Keep `unix_time` seven years before the date strings, as in the Kaggle files.
    pub unix_time_quirk: bool,
}

impl Default for SimConfig {
    /// Kaggle's own: 2019-01-01 .. 2020-12-31 split at 2020-06-21 12:14:00.
    fn default() -> Self {
        SimConfig {
            customers: 1000,
            seed: 1,
            start: days_from_civil(2019, 1, 1),
            end: days_from_civil(2020, 12, 31),
            split: days_from_civil(2020, 6, 21) * DAY + 12 * 3600 + 14 * 60,
            unix_time_quirk: true,
        }
    }
}

/// Counts of a generation run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimSummary {
    pub customers: u32,
    pub fraud_episodes: u32,
    pub train_rows: u64,
    pub train_frauds: u64,
    pub test_rows: u64,
    pub test_frauds: u64,
}

const HEADER: &str = ",trans_date_trans_time,cc_num,merchant,category,amt,first,last,gender,street,city,state,zip,lat,long,city_pop,job,dob,trans_num,unix_time,merch_lat,merch_long,is_fraud\r\n";

/// Moves a day by whole calendar years, 29 February becoming the 28th in a common year.
fn shift_years(day: i64, years: i32) -> i64 {
    let (y, m, d) = civil_from_days(day);
    let y = y + years;
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let d = if m == 2 && d == 29 && !leap { 28 } else { d };
    days_from_civil(y, m, d)
}

impl SimConfig {
    pub fn check(&self) -> Result<(), SimError> {
        let bad = |name, value: String, reason: &str| {
            Err(SimError::InvalidConfig {
                name,
                value,
                reason: reason.into(),
            })
        };
        if !(1..=10_000_000).contains(&self.customers) {
            return bad(
                "--customers",
                self.customers.to_string(),
                "must be 1 to 10,000,000",
            );
        }
        if self.end - self.start < 8 {
            return bad(
                "--end",
                fraud_core::time::format_date(self.end),
                "must be at least 8 days after --start (a fraud episode needs a week of room)",
            );
        }
        if self.end - self.start > 366 * 20 {
            return bad(
                "--end",
                fraud_core::time::format_date(self.end),
                "at most 20 years after --start",
            );
        }
        Ok(())
    }

    /// The generator's calendar: the output's, or seven years earlier with the quirk.
    fn generator_days(&self) -> (i64, i64) {
        if self.unix_time_quirk {
            (
                shift_years(self.start, -QUIRK_YEARS),
                shift_years(self.end, -QUIRK_YEARS),
            )
        } else {
            (self.start, self.end)
        }
    }

    /// The date string's day of a generator day.
    fn output_day(&self, generator_day: i64) -> i64 {
        if self.unix_time_quirk {
            shift_years(generator_day, QUIRK_YEARS)
        } else {
            generator_day
        }
    }

    /// The date string's time (epoch seconds) of a generator time: same time of day, moved day.
    fn output_secs(&self, generator_secs: i64) -> i64 {
        self.output_day(generator_secs.div_euclid(DAY)) * DAY + generator_secs.rem_euclid(DAY)
    }
}

/// Per-profile probability that a remaining legitimate transaction falls on each day: the day's
/// weight over the weight of all days from it to the end (the sequential binomial split).
struct Calendar {
    first_day: i64,
    /// Last day, inclusive.
    last_day: i64,
    /// `split[profile][k]` for day `first_day + k`.
    split: Vec<Vec<f64>>,
}

impl Calendar {
    fn new(profiles: &[reference::Profile], first: i64, last: i64) -> Self {
        let first_year = civil_from_days(first).0;
        let split = profiles
            .iter()
            .map(|p| {
                let w: Vec<f64> = (first..=last)
                    .map(|d| p.day_weight(d, (civil_from_days(d).0 - first_year) as usize))
                    .collect();
                let mut remaining: f64 = w.iter().sum();
                w.iter()
                    .map(|&wd| {
                        let share = if remaining > 0.0 {
                            (wd / remaining).min(1.0)
                        } else {
                            1.0
                        };
                        remaining -= wd;
                        share
                    })
                    .collect()
            })
            .collect();
        Calendar {
            first_day: first,
            last_day: last,
            split,
        }
    }
}

struct Output {
    writer: BufWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    index: u64,
    frauds: u64,
}

impl Output {
    fn create(dir: &Path, name: &str) -> Result<Self, SimError> {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.partial"));
        let file = File::create(&tmp).map_err(|e| io_error(&tmp, e))?;
        let mut writer = BufWriter::with_capacity(1 << 20, file);
        writer
            .write_all(HEADER.as_bytes())
            .map_err(|e| io_error(&tmp, e))?;
        Ok(Output {
            writer,
            tmp,
            path,
            index: 0,
            frauds: 0,
        })
    }

    fn finish(&mut self) -> Result<(), SimError> {
        self.writer.flush().map_err(|e| io_error(&self.tmp, e))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| io_error(&self.path, e))
    }
}

/// The train and the test file of one run.
struct Outputs {
    train: Output,
    test: Output,
}

impl Outputs {
    /// Opens both files; when the test file cannot be created, the train file's partial goes.
    fn create(dir: &Path) -> Result<Self, SimError> {
        let train = Output::create(dir, "fraudTrain.csv")?;
        match Output::create(dir, "fraudTest.csv") {
            Ok(test) => Ok(Outputs { train, test }),
            Err(e) => {
                let _ = std::fs::remove_file(&train.tmp);
                Err(e)
            }
        }
    }

    /// Appends `rows` (in time order) to the file their date string falls in: train before
    /// `config.split`, test from it; each file numbers its rows from 0.
    fn write_rows(
        &mut self,
        rows: &[Row],
        customers: &[Customer],
        config: &SimConfig,
        merchants: &[Vec<String>; 14],
        buffer: &mut Vec<u8>,
    ) -> Result<(), SimError> {
        for row in rows {
            let target = if config.output_secs(row.unix_time) < config.split {
                &mut self.train
            } else {
                &mut self.test
            };
            buffer.clear();
            let customer = &customers[row.customer as usize];
            write_row(buffer, target.index, row, customer, config, merchants);
            target
                .writer
                .write_all(buffer)
                .map_err(|e| io_error(&target.tmp, e))?;
            target.index += 1;
            target.frauds += u64::from(row.fraud);
        }
        Ok(())
    }

    /// Renames both files into place (both or neither) and returns the run's counts.
    fn finish(
        &mut self,
        config: &SimConfig,
        customers: &[Customer],
    ) -> Result<SimSummary, SimError> {
        let summary = SimSummary {
            customers: config.customers,
            fraud_episodes: customers.iter().filter(|c| c.has_fraud_episode()).count() as u32,
            train_rows: self.train.index,
            train_frauds: self.train.frauds,
            test_rows: self.test.index,
            test_frauds: self.test.frauds,
        };
        self.train.finish()?;
        if let Err(e) = self.test.finish() {
            // A train file without its test file is half a data set.
            let _ = std::fs::remove_file(&self.train.path);
            return Err(e);
        }
        Ok(summary)
    }

    /// Removes both temporary files after a failure.
    fn remove_partials(&self) {
        let _ = std::fs::remove_file(&self.train.tmp);
        let _ = std::fs::remove_file(&self.test.tmp);
    }
}

fn io_error(path: &Path, e: std::io::Error) -> SimError {
    SimError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Python's float repr for the values pandas writes (`45.0`, not `45`).
fn py_float(x: f64, out: &mut Vec<u8>) {
    let start = out.len();
    let _ = write!(out, "{x}");
    if !out[start..].contains(&b'.') {
        out.extend_from_slice(b".0");
    }
}

fn write_row(
    out: &mut Vec<u8>,
    index: u64,
    row: &Row,
    customer: &Customer,
    config: &SimConfig,
    merchants: &[Vec<String>; 14],
) {
    let out_secs = config.output_secs(row.unix_time);
    let unix_time = if config.unix_time_quirk {
        row.unix_time
    } else {
        out_secs
    };
    let _ = write!(
        out,
        "{index},{},{},{},{},",
        format_date_time(out_secs),
        customer.card,
        merchants[usize::from(row.category.code())][usize::from(row.merchant)],
        row.category.as_str(),
    );
    py_float(row.cents as f64 / 100.0, out);
    let _ = write!(
        out,
        ",{},{:032x},{unix_time},",
        customer.fields, row.trans_num
    );
    py_float(row.merch_lat, out);
    out.push(b',');
    py_float(row.merch_long, out);
    let _ = write!(out, ",{}\r\n", u8::from(row.fraud));
}

/// Generates `DIR/fraudTrain.csv` and `DIR/fraudTest.csv`. Files appear only when complete
/// (written under a temporary name, then renamed); `on_day` is called after each day.
pub fn generate_to_dir(
    config: &SimConfig,
    dir: &Path,
    on_day: &(dyn Fn(u64, u64) + Sync),
) -> Result<SimSummary, SimError> {
    config.check()?;
    let reference = reference::reference()?;
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let (first, last) = config.generator_days();
    let calendar = Calendar::new(&reference.profiles, first, last);
    let mut customers = draw_customers(config, first, last, reference);
    let mut outputs = Outputs::create(dir)?;
    let result = write_days(
        &mut outputs,
        &mut customers,
        &calendar,
        config,
        reference,
        on_day,
    )
    .and_then(|()| outputs.finish(config, &customers));
    if result.is_err() {
        // Nothing half-written stays behind.
        outputs.remove_partials();
    }
    result
}

/// Every customer of the run (drawn in parallel: each one's draws depend only on the seed and
/// its index), with card numbers made unique.
fn draw_customers(
    config: &SimConfig,
    first: i64,
    last: i64,
    reference: &Reference,
) -> Vec<Customer> {
    let mut customers: Vec<Customer> = (0..config.customers)
        .into_par_iter()
        .map(|i| {
            Customer::new(
                i,
                config.seed,
                first,
                last,
                config.split.div_euclid(DAY),
                reference,
            )
        })
        .collect();
    customer::make_cards_unique(&mut customers, config.seed);
    customers
}

/// Streams the generator's days in order, each day's rows to the file its date belongs to;
/// `on_day` is told after each day.
fn write_days(
    outputs: &mut Outputs,
    customers: &mut [Customer],
    calendar: &Calendar,
    config: &SimConfig,
    reference: &Reference,
    on_day: &(dyn Fn(u64, u64) + Sync),
) -> Result<(), SimError> {
    let mut buffer = Vec::with_capacity(1 << 20);
    let (first, last) = (calendar.first_day, calendar.last_day);
    let total_days = (last - first + 1) as u64;
    for day in first..=last {
        let rows = rows_of_day(customers, day, calendar, config, reference);
        outputs.write_rows(&rows, customers, config, &reference.merchants, &mut buffer)?;
        on_day((day - first + 1) as u64, total_days);
    }
    Ok(())
}

/// Every customer's rows of one generator day, in time order (ties by customer, then by the
/// customer's own order), so the files do not depend on the thread count.
fn rows_of_day(
    customers: &mut [Customer],
    day: i64,
    calendar: &Calendar,
    config: &SimConfig,
    reference: &Reference,
) -> Vec<Row> {
    let k = (day - calendar.first_day) as usize;
    let mut rows: Vec<Row> = customers
        .par_iter_mut()
        .flat_map_iter(|c| c.rows_on(day, calendar.split[c.profile][k], config.seed, reference))
        .collect();
    rows.sort_unstable_by_key(|r| (r.unix_time, r.customer, r.seq));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quirk_moves_dates_seven_years_and_folds_the_leap_day() {
        assert_eq!(
            shift_years(days_from_civil(2012, 2, 29), 7),
            days_from_civil(2019, 2, 28)
        );
        assert_eq!(
            shift_years(days_from_civil(2019, 1, 1), -7),
            days_from_civil(2012, 1, 1)
        );
        assert_eq!(
            shift_years(days_from_civil(2020, 12, 31), -7),
            days_from_civil(2013, 12, 31)
        );
    }

    #[test]
    fn floats_print_like_pandas() {
        for (x, text) in [
            (45.0, "45.0"),
            (4.97, "4.97"),
            (49.159046999999994, "49.159046999999994"),
            (-73.5, "-73.5"),
        ] {
            let mut out = Vec::new();
            py_float(x, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), text);
        }
    }

    #[test]
    fn bad_configurations_are_named() {
        let c = SimConfig {
            customers: 0,
            ..SimConfig::default()
        };
        assert!(c.check().unwrap_err().to_string().contains("--customers"));
        let c = SimConfig {
            end: SimConfig::default().start + 3,
            ..SimConfig::default()
        };
        assert!(c.check().unwrap_err().to_string().contains("--end"));
    }
}
