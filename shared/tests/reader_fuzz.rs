//! Property tests: whatever bytes arrive, the reader answers with rows or with errors that carry
//! a line number; it never panics, and a lenient read never loses a good row.

use std::io::Cursor;

use fraud_core::{CoreError, ReadMode, TransactionReader};
use proptest::prelude::*;

const SAMPLE: &str = include_str!("../../tests/fixtures/kaggle/kaggle_train_sample.csv");

fn first_lines(n: usize) -> String {
    SAMPLE.split_inclusive('\n').take(n).collect()
}

fn read_all(
    bytes: Vec<u8>,
    mode: ReadMode,
) -> Result<(Vec<Result<fraud_core::Transaction, CoreError>>, u64), CoreError> {
    let mut reader = TransactionReader::from_reader(Cursor::new(bytes), "fuzz.csv", mode)?;
    let rows: Vec<_> = reader.by_ref().collect();
    Ok((rows, reader.skipped()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        if let Ok((rows, _)) = read_all(bytes, ReadMode::Strict) {
            for row in rows.iter().filter_map(|r| r.as_ref().err()) {
                prop_assert!(row.to_string().starts_with("fuzz.csv"), "{}", row);
            }
        }
    }

    #[test]
    fn mutated_rows_are_rejected_or_read_but_never_panic(
        edits in proptest::collection::vec((0usize..6000, any::<u8>()), 1..8),
    ) {
        let mut bytes = first_lines(21).into_bytes();
        let n_edits = edits.len() as u64;
        for (at, byte) in edits {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        if let Ok((rows, skipped)) = read_all(bytes, ReadMode::Lenient) {
            let good = rows.iter().filter(|r| r.is_ok()).count() as u64;
            // 20 data rows; each edit can at most split one line in two (a new line end).
            prop_assert!(good + skipped <= 20 + n_edits);
            for row in rows.iter().flatten() {
                prop_assert!(row.validate().is_ok());
            }
        }
    }

    #[test]
    fn truncation_at_any_byte_keeps_every_complete_row(cut in 200usize..6000) {
        let text = first_lines(21);
        let cut = cut.min(text.len());
        let complete_rows = text[..cut].matches("\r\n").count().saturating_sub(1);
        let (rows, skipped) = read_all(text.as_bytes()[..cut].to_vec(), ReadMode::Lenient).unwrap();
        let good = rows.iter().filter(|r| r.is_ok()).count();
        prop_assert!(good >= complete_rows, "cut {}: {} good of {}", cut, good, complete_rows);
        prop_assert!(good <= complete_rows + 1 && skipped <= 1);
    }
}

/// Rows read `max` at a time through [`TransactionReader::read_into`]: the rows, then the error
/// that ended the read (if any), and the rows skipped.
fn read_in_chunks(
    bytes: Vec<u8>,
    mode: ReadMode,
    parallel: bool,
    max: usize,
) -> (Vec<fraud_core::Transaction>, Option<String>, u64) {
    let reader = TransactionReader::from_reader(Cursor::new(bytes), "fuzz.csv", mode).unwrap();
    let mut reader = if parallel { reader.parallel() } else { reader };
    let mut rows = Vec::new();
    loop {
        let mut chunk = Vec::new();
        match reader.read_into(&mut chunk, max) {
            Ok(()) if chunk.is_empty() => return (rows, None, reader.skipped()),
            Ok(()) => {
                assert!(chunk.len() <= max);
                rows.extend(chunk);
            }
            Err(e) => {
                rows.extend(chunk);
                return (rows, Some(e.to_string()), reader.skipped());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The chunked read the batch scorer uses gives exactly the rows, skips and error that
    /// reading one row at a time gives, on either reader.
    #[test]
    fn chunked_reads_match_row_by_row_reads(
        edits in proptest::collection::vec((0usize..40_000, any::<u8>()), 0..4),
        max in 1usize..50,
        parallel in any::<bool>(),
        lenient in any::<bool>(),
    ) {
        let mut bytes = first_lines(150).into_bytes();
        for (at, byte) in edits {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        let mode = if lenient { ReadMode::Lenient } else { ReadMode::Strict };
        let Ok(reader) = TransactionReader::from_reader(Cursor::new(bytes.clone()), "fuzz.csv", mode) else {
            return Ok(());
        };
        let mut reader = if parallel { reader.parallel() } else { reader };
        let mut expected = Vec::new();
        let mut error = None;
        for row in reader.by_ref() {
            match row {
                Ok(txn) => expected.push(txn),
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        let (rows, chunked_error, skipped) = read_in_chunks(bytes, mode, parallel, max);
        prop_assert_eq!(rows, expected);
        prop_assert_eq!(chunked_error, error);
        prop_assert_eq!(skipped, reader.skipped());
    }
}
