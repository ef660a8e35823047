//! Streaming reader of Kaggle-layout CSV files, plain or zstd-compressed.
//!
//! Rows come one at a time as [`Transaction`]s, so memory stays flat in the file size; records
//! are split into fields by `records` (the csv crate's reading, faster on plain lines).
//! Columns are found by header name (the unnamed index and `is_fraud` are optional, extra columns
//! are ignored). A bad row is reported with its line number and field; in [`ReadMode::Lenient`]
//! it is skipped and counted instead of ending the read.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

mod records;

use records::{Record, RecordSplitter};

use crate::error::{CoreError, Result, RowProblem};
use crate::schema::{COLUMNS, FieldError, Transaction};

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// How many skipped rows a lenient read keeps for its report (all are counted).
pub const KEPT_ISSUES: usize = 1000;

/// What to do with a bad row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadMode {
    /// The first bad row ends the read with an error.
    #[default]
    Strict,
    /// Bad rows are skipped, counted and kept (the first 1,000) for the report.
    Lenient,
}

/// A row skipped by a lenient read.
#[derive(Debug, Clone, PartialEq)]
pub struct RowIssue {
    pub line: u64,
    pub problem: RowProblem,
}

/// Counts the (compressed) bytes pulled from the file, for progress bars.
#[derive(Debug, Clone, Default)]
pub struct ByteCounter(Arc<AtomicU64>);

impl ByteCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

struct Counting<R> {
    inner: R,
    counter: ByteCounter,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Column positions of the fields we read, resolved from the header.
#[derive(Debug, Clone)]
struct ColumnMap {
    index: Option<usize>,
    /// Position of each of [`COLUMNS`]; `is_fraud` (the last) may be absent.
    fields: [Option<usize>; COLUMNS.len()],
    width: usize,
}

impl ColumnMap {
    fn from_header(header: &csv::StringRecord) -> std::result::Result<Self, String> {
        let mut fields = [None; COLUMNS.len()];
        let mut index = None;
        for (pos, name) in header.iter().enumerate() {
            let name = name.trim_start_matches('\u{feff}').trim();
            if pos == 0 && (name.is_empty() || name == "Unnamed: 0") {
                index = Some(pos);
            } else if let Some(i) = COLUMNS.iter().position(|c| *c == name) {
                if fields[i].is_some() {
                    return Err(format!("column `{name}` appears twice"));
                }
                fields[i] = Some(pos);
            }
        }
        let missing: Vec<&str> = COLUMNS[..COLUMNS.len() - 1]
            .iter()
            .zip(&fields)
            .filter(|(_, pos)| pos.is_none())
            .map(|(name, _)| *name)
            .collect();
        if !missing.is_empty() {
            let seen: Vec<&str> = header.iter().take(8).collect();
            return Err(format!(
                "missing column(s) {} (the header starts {:?}; expected the Kaggle fraudTrain.csv layout)",
                missing.join(", "),
                seen
            ));
        }
        Ok(ColumnMap {
            index,
            fields,
            width: header.len(),
        })
    }

    fn has_labels(&self) -> bool {
        self.fields[COLUMNS.len() - 1].is_some()
    }
}

fn field<'r>(record: &Record<'r>, map: &ColumnMap, i: usize) -> &'r str {
    map.fields[i].and_then(|pos| record.get(pos)).unwrap_or("")
}

fn parse<T: FromStr>(
    record: &Record<'_>,
    map: &ColumnMap,
    i: usize,
    what: &str,
) -> std::result::Result<T, FieldError> {
    let text = field(record, map, i);
    text.trim()
        .parse()
        .map_err(|_| FieldError::new(COLUMNS[i], text, format!("is not {what}")))
}

/// The card holder's name, street, city and job: the columns a model never reads.
const PERSONAL_COLUMNS: [usize; 5] = [5, 6, 8, 9, 15];

fn parse_row(
    record: &Record<'_>,
    ctx: &ParseContext,
) -> std::result::Result<Transaction, RowProblem> {
    let map = &ctx.columns;
    if record.len() != map.width {
        return Err(RowProblem::FieldCount {
            expected: map.width,
            found: record.len(),
        });
    }
    let text = |i: usize| field(record, map, i).to_owned();
    // Left empty unless kept, or too long (then validation names them, as it always has).
    let keep_personal = ctx.personal_fields
        || PERSONAL_COLUMNS
            .iter()
            .any(|&i| field(record, map, i).len() > crate::schema::MAX_TEXT_LEN);
    let personal = |i: usize| {
        if keep_personal {
            text(i)
        } else {
            String::new()
        }
    };
    let index = match map.index.and_then(|pos| record.get(pos)) {
        Some(s) if !s.is_empty() => Some(
            s.parse()
                .map_err(|_| FieldError::new("index", s, "is not a row number"))?,
        ),
        _ => None,
    };
    let is_fraud = match field(record, map, 21) {
        "" => None,
        "0" => Some(0),
        "1" => Some(1),
        other => return Err(FieldError::new("is_fraud", other, "must be 0 or 1").into()),
    };
    let cc_num = field(record, map, 1);
    let txn = Transaction {
        index,
        trans_date_trans_time: parse(record, map, 0, "a date and time as YYYY-MM-DD HH:MM:SS")?,
        cc_num: cc_num.trim().parse().map_err(|_| {
            // A card number is never echoed, only its shape.
            FieldError::new(
                "cc_num",
                format!("<{} characters>", cc_num.len()),
                "is not a card number of up to 19 digits",
            )
        })?,
        merchant: text(2),
        category: parse(record, map, 3, "one of the 14 categories of the data set")?,
        amt: parse(record, map, 4, "a number")?,
        first: personal(5),
        last: personal(6),
        gender: parse(record, map, 7, "M or F")?,
        street: personal(8),
        city: personal(9),
        state: text(10),
        zip: parse(record, map, 11, "a zip code (integer)")?,
        lat: parse(record, map, 12, "a number")?,
        long: parse(record, map, 13, "a number")?,
        city_pop: parse(record, map, 14, "a non-negative integer")?,
        job: personal(15),
        dob: parse(record, map, 16, "a date as YYYY-MM-DD")?,
        trans_num: text(17),
        unix_time: parse(record, map, 18, "an integer (epoch seconds)")?,
        merch_lat: parse(record, map, 19, "a number")?,
        merch_long: parse(record, map, 20, "a number")?,
        is_fraud,
    };
    txn.validate()?;
    Ok(txn)
}

/// Bytes of CSV handed to one parse job; about 4,000 Kaggle rows.
const CHUNK_BYTES: usize = 1 << 20;

/// Whole records of the file, with the file line of the first.
struct Chunk {
    bytes: Vec<u8>,
    first_line: u64,
}

/// A read failure, with the line the read had reached.
struct ReadFailure {
    error: std::io::Error,
    line: u64,
}

/// Cuts a byte stream into chunks of whole records: a chunk ends after a line end that is not
/// inside a quoted field (an even number of quotes before it; `""` escapes count twice).
struct Chunker {
    stream: Box<dyn Read + Send>,
    pending: Vec<u8>,
    next_line: u64,
    failure: Option<std::io::Error>,
    eof: bool,
}

impl Chunker {
    /// The end (after its line end) of the last complete record in `buf`.
    fn last_record_end(buf: &[u8]) -> Option<usize> {
        let mut quotes_after = 0usize;
        let total = memchr::memchr_iter(b'"', buf).count();
        for i in memchr::memrchr2_iter(b'\n', b'"', buf) {
            match buf[i] {
                b'"' => quotes_after += 1,
                _ if (total - quotes_after).is_multiple_of(2) => return Some(i + 1),
                _ => {}
            }
        }
        None
    }

    /// The end (after its line end) of the first record of `buf`.
    fn first_record_end(buf: &[u8]) -> Option<usize> {
        let mut quoted = false;
        for (i, &b) in buf.iter().enumerate() {
            match b {
                b'"' => quoted = !quoted,
                b'\n' if !quoted => return Some(i + 1),
                _ => {}
            }
        }
        None
    }

    /// Reads until `pending` holds at least `want` bytes or the stream ends or fails, straight
    /// into `pending`'s spare room (a decompressor writes there directly).
    fn fill(&mut self, want: usize) {
        if self.pending.len() >= want || self.eof || self.failure.is_some() {
            return;
        }
        let missing = want - self.pending.len();
        self.pending.reserve(missing);
        match (&mut self.stream)
            .take(missing as u64)
            .read_to_end(&mut self.pending)
        {
            Ok(n) if n < missing => self.eof = true,
            Ok(_) => {}
            Err(e) => self.failure = Some(e),
        }
    }

    /// The first `end` bytes as a chunk; the rest stays, in a buffer with room for a chunk.
    fn take(&mut self, end: usize) -> Chunk {
        let mut rest = Vec::with_capacity(CHUNK_BYTES.max(self.pending.len() - end));
        rest.extend_from_slice(&self.pending[end..]);
        let mut bytes = std::mem::replace(&mut self.pending, rest);
        bytes.truncate(end);
        let first_line = self.next_line;
        self.next_line += memchr::memchr_iter(b'\n', &bytes).count() as u64;
        Chunk { bytes, first_line }
    }

    fn fail(&mut self) -> Option<Result<Chunk, ReadFailure>> {
        let error = self.failure.take()?;
        self.eof = true;
        self.pending.clear();
        Some(Err(ReadFailure {
            error,
            line: self.next_line,
        }))
    }

    /// The header: the first record that is not an empty line (the csv crate skips those too);
    /// `None` for a stream with none.
    fn header(&mut self) -> Result<Option<Chunk>, ReadFailure> {
        loop {
            let mut want = 64 << 10;
            let end = loop {
                self.fill(want);
                if let Some(end) = Self::first_record_end(&self.pending) {
                    break Some(end);
                }
                if let Some(Err(failure)) = self.fail() {
                    return Err(failure);
                }
                if self.eof {
                    break (!self.pending.is_empty()).then_some(self.pending.len());
                }
                want *= 2;
            };
            let Some(end) = end else { return Ok(None) };
            let record = self.take(end);
            if record.bytes.iter().any(|&b| b != b'\r' && b != b'\n') {
                return Ok(Some(record));
            }
        }
    }

    /// The next chunk of whole records; at the end of the stream, whatever is left (a last line
    /// without a line end). Records read before a failure come first, then the failure.
    fn next_chunk(&mut self) -> Option<Result<Chunk, ReadFailure>> {
        let mut want = CHUNK_BYTES;
        loop {
            self.fill(want);
            if self.pending.len() >= want || self.failure.is_some() {
                if let Some(end) = Self::last_record_end(&self.pending) {
                    return Some(Ok(self.take(end)));
                }
                if self.failure.is_some() {
                    return self.fail();
                }
                want *= 2; // one record longer than a chunk, or an unbalanced quote
            } else if self.eof {
                let end = self.pending.len();
                return (end > 0).then(|| Ok(self.take(end)));
            }
        }
    }
}

/// What a parse job needs to turn a chunk into rows.
#[derive(Clone)]
struct ParseContext {
    /// Read the card holder's name, street, city and job (see
    /// [`TransactionReader::without_personal_fields`]).
    personal_fields: bool,
    columns: ColumnMap,
    source_name: String,
}

/// One parsed row: its line, its fields when kept, and the transaction or its problem.
struct Parsed {
    line: u64,
    record: Option<csv::StringRecord>,
    result: Result<Transaction>,
}

fn parse_chunk(chunk: &Chunk, ctx: &ParseContext, keep_records: bool) -> Vec<Parsed> {
    let mut rows = Vec::with_capacity(chunk.bytes.len() / 200);
    let mut splitter = RecordSplitter::new(&chunk.bytes, chunk.first_line);
    while let Some(record) = splitter.next_record() {
        rows.push(match record {
            Ok(record) => Parsed {
                line: record.line,
                record: keep_records.then(|| record.to_string_record()),
                result: parse_row(&record, ctx).map_err(|problem| CoreError::BadRow {
                    source_name: ctx.source_name.clone(),
                    line: record.line,
                    problem,
                }),
            },
            Err(bad) => Parsed {
                line: bad.line,
                record: None,
                result: Err(CoreError::BadRow {
                    source_name: ctx.source_name.clone(),
                    line: bad.line,
                    problem: RowProblem::Malformed(format!(
                        "field {} is not valid UTF-8",
                        bad.field + 1
                    )),
                }),
            },
        });
    }
    rows
}

/// Chunks parsed on the rayon pool, ahead of the consumer and handed over in file order; the
/// stream is read and cut into chunks on a thread of its own.
struct Pipeline {
    chunks: std::sync::mpsc::Receiver<Result<Chunk, ReadFailure>>,
    parsing: std::collections::VecDeque<std::sync::mpsc::Receiver<Vec<Parsed>>>,
    input_done: bool,
    failure: Option<ReadFailure>,
    ctx: Arc<ParseContext>,
}

impl Pipeline {
    fn start(mut chunker: Chunker, ctx: Arc<ParseContext>) -> Self {
        let (send, chunks) = std::sync::mpsc::sync_channel(2);
        std::thread::spawn(move || {
            while let Some(chunk) = chunker.next_chunk() {
                if send.send(chunk).is_err() {
                    break; // the reader was dropped
                }
            }
        });
        Pipeline {
            chunks,
            parsing: std::collections::VecDeque::new(),
            input_done: false,
            failure: None,
            ctx,
        }
    }

    fn dispatch(&mut self, chunk: Chunk) {
        let (send, parsed) = std::sync::mpsc::sync_channel(1);
        let ctx = Arc::clone(&self.ctx);
        rayon::spawn(move || {
            let _ = send.send(parse_chunk(&chunk, &ctx, false));
        });
        self.parsing.push_back(parsed);
    }

    fn next(&mut self) -> Option<Result<Vec<Parsed>, ReadFailure>> {
        // Enough parsed ahead to cover a scoring batch (tens of thousands of rows), so parsing
        // overlaps the consumer's work instead of waiting for it.
        let in_flight = 8 * rayon::current_num_threads().max(2);
        while !self.input_done && self.parsing.len() < in_flight {
            let chunk = if self.parsing.is_empty() {
                self.chunks.recv().ok()
            } else {
                match self.chunks.try_recv() {
                    Ok(chunk) => Some(chunk),
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => None,
                }
            };
            match chunk {
                Some(Ok(chunk)) => self.dispatch(chunk),
                Some(Err(failure)) => {
                    self.failure = Some(failure);
                    self.input_done = true;
                }
                None => self.input_done = true,
            }
        }
        match self.parsing.pop_front() {
            Some(parsed) => Some(Ok(parsed.recv().expect("a parse job answers"))),
            None => self.failure.take().map(Err),
        }
    }
}

enum Source {
    /// Chunks parsed on the calling thread, fields kept for [`TransactionReader::current_record`].
    Inline(Chunker),
    Parallel(Pipeline),
    /// Handed over to [`TransactionReader::parallel`].
    Moved,
}

/// Reads transactions one at a time from a Kaggle-layout CSV stream.
pub struct TransactionReader {
    source: Source,
    ctx: Arc<ParseContext>,
    header: csv::StringRecord,
    mode: ReadMode,
    current: std::vec::IntoIter<Parsed>,
    record: csv::StringRecord,
    line: u64,
    rows_read: u64,
    skipped: u64,
    issues: Vec<RowIssue>,
    bytes: ByteCounter,
    done: bool,
}

impl std::fmt::Debug for TransactionReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionReader")
            .field("source_name", &self.ctx.source_name)
            .field("rows_read", &self.rows_read)
            .finish_non_exhaustive()
    }
}

impl TransactionReader {
    /// Opens a `.csv` or `.csv.zst` file (zstd is recognised by its magic bytes, not the name).
    pub fn open(path: &Path, mode: ReadMode) -> Result<Self> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| CoreError::io(&name, e))?;
        Self::from_reader(file, name, mode)
    }

    /// Reads from any byte stream; `source_name` names it in errors (a path, an S3 key).
    pub fn from_reader(
        reader: impl Read + Send + 'static,
        source_name: impl Into<String>,
        mode: ReadMode,
    ) -> Result<Self> {
        let source_name = source_name.into();
        let bytes = ByteCounter::default();
        let counting = Counting {
            inner: reader,
            counter: bytes.clone(),
        };
        let mut buffered = BufReader::with_capacity(1 << 16, counting);
        let head = buffered
            .fill_buf()
            .map_err(|e| CoreError::io(&source_name, e))?;
        // The chunker reads whole chunks, so the decoder writes straight into them.
        let stream: Box<dyn Read + Send> = if head.starts_with(&ZSTD_MAGIC) {
            let decoder = zstd::stream::read::Decoder::with_buffer(buffered)
                .map_err(|e| CoreError::io(&source_name, e))?;
            Box::new(decoder)
        } else {
            Box::new(buffered)
        };
        let mut chunker = Chunker {
            stream,
            pending: Vec::new(),
            next_line: 1,
            failure: None,
            eof: false,
        };
        let header_chunk = chunker
            .header()
            .map_err(|f| read_failed(&source_name, &f.error, f.line))?
            .ok_or_else(|| CoreError::EmptyFile {
                source_name: source_name.clone(),
            })?;
        let mut header = csv::StringRecord::new();
        csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(false)
            .from_reader(&header_chunk.bytes[..])
            .read_record(&mut header)
            .map_err(|e| csv_error(&source_name, e, header_chunk.first_line))?;
        if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
            return Err(CoreError::EmptyFile { source_name });
        }
        let columns = ColumnMap::from_header(&header).map_err(|reason| CoreError::BadHeader {
            source_name: source_name.clone(),
            reason,
        })?;
        Ok(TransactionReader {
            source: Source::Inline(chunker),
            ctx: Arc::new(ParseContext {
                columns,
                personal_fields: true,
                source_name,
            }),
            header,
            mode,
            current: Vec::new().into_iter(),
            record: csv::StringRecord::new(),
            line: 1,
            rows_read: 0,
            skipped: 0,
            issues: Vec::new(),
            bytes,
            done: false,
        })
    }

    /// Parses rows on every core, ahead of the consumer (reading, decompression and cutting on a
    /// thread of their own); rows still come in file order with the same errors. The raw fields
    /// are then not kept: [`Self::current_record`] and [`Self::current_field`] answer empty.
    pub fn parallel(mut self) -> Self {
        if let Source::Inline(chunker) = std::mem::replace(&mut self.source, Source::Moved) {
            self.source = Source::Parallel(Pipeline::start(chunker, Arc::clone(&self.ctx)));
        }
        self
    }

    /// Leaves `first`, `last`, `street`, `city` and `job` empty in the rows (they are still
    /// checked): scoring and training never read them, so the batch paths neither allocate
    /// them nor hold a card holder's name and address in memory. Call before [`Self::parallel`].
    pub fn without_personal_fields(mut self) -> Self {
        assert!(
            matches!(self.source, Source::Inline(_)),
            "without_personal_fields() comes before parallel()"
        );
        Arc::make_mut(&mut self.ctx).personal_fields = false;
        self
    }

    /// The name used in error messages.
    pub fn source_name(&self) -> &str {
        &self.ctx.source_name
    }

    /// The position of a column by header name, for columns beyond the transaction's (the
    /// `fraud_probability` of a predictions file).
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// The header line's fields.
    pub fn header(&self) -> &csv::StringRecord {
        &self.header
    }

    /// The raw fields of the row most recently returned (empty after [`Self::parallel`]).
    pub fn current_record(&self) -> &csv::StringRecord {
        &self.record
    }

    /// A field of the row most recently returned, by position (see [`Self::column`]).
    pub fn current_field(&self, index: usize) -> Option<&str> {
        self.record.get(index)
    }

    /// The file line of the row most recently returned (1 = the header).
    pub fn current_line(&self) -> u64 {
        self.line
    }

    /// Whether the file has an `is_fraud` column.
    pub fn has_labels(&self) -> bool {
        self.ctx.columns.has_labels()
    }

    /// Rows returned so far.
    pub fn rows_read(&self) -> u64 {
        self.rows_read
    }

    /// Rows skipped by a lenient read.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The first skipped rows with their problems (all are counted in [`Self::skipped`]).
    pub fn issues(&self) -> &[RowIssue] {
        &self.issues
    }

    /// A handle on the count of raw bytes read from the source, for progress reporting.
    pub fn byte_counter(&self) -> ByteCounter {
        self.bytes.clone()
    }

    fn next_chunk(&mut self) -> Option<Result<Vec<Parsed>, ReadFailure>> {
        match &mut self.source {
            Source::Inline(chunker) => Some(
                chunker
                    .next_chunk()?
                    .map(|chunk| parse_chunk(&chunk, &self.ctx, true)),
            ),
            Source::Parallel(pipeline) => pipeline.next(),
            Source::Moved => None,
        }
    }

    /// The next row, or a row-level error (always returned, whatever the mode). `None` at the end.
    pub fn next_row(&mut self) -> Option<Result<Transaction>> {
        loop {
            if let Some(parsed) = self.current.next() {
                self.line = parsed.line;
                self.record = parsed.record.unwrap_or_default();
                return Some(parsed.result);
            }
            if self.done {
                return None;
            }
            match self.next_chunk() {
                Some(Ok(rows)) => self.current = rows.into_iter(),
                Some(Err(failure)) => {
                    self.done = true;
                    let name = &self.ctx.source_name;
                    return Some(Err(read_failed(name, &failure.error, failure.line)));
                }
                None => self.done = true,
            }
        }
    }
}

impl TransactionReader {
    /// Appends rows to `out` until it holds `max` (or the file ends), as [`Iterator::next`]
    /// reads them. Plain rows go from the parsed chunk straight into `out`: one move of each
    /// 300-byte row instead of three.
    pub fn read_into(&mut self, out: &mut Vec<Transaction>, max: usize) -> Result<()> {
        while out.len() < max {
            let wanted = max - out.len();
            let plain = self
                .current
                .as_slice()
                .iter()
                .take(wanted)
                .take_while(|p| p.result.is_ok() && p.record.is_none())
                .count();
            if plain > 0 {
                out.extend(self.current.by_ref().take(plain).map(|p| {
                    self.line = p.line;
                    p.result.expect("counted as a plain row")
                }));
                self.rows_read += plain as u64;
                continue;
            }
            match self.next() {
                Some(row) => out.push(row?),
                None => break,
            }
        }
        Ok(())
    }
}

impl Iterator for TransactionReader {
    type Item = Result<Transaction>;

    /// Rows in file order. In lenient mode row errors are skipped and counted; a stream error
    /// (I/O, a truncated zstd frame) always ends the read with an error.
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_row()? {
                Ok(txn) => {
                    self.rows_read += 1;
                    return Some(Ok(txn));
                }
                Err(CoreError::BadRow { line, problem, .. }) if self.mode == ReadMode::Lenient => {
                    self.skipped += 1;
                    if self.issues.len() < KEPT_ISSUES {
                        self.issues.push(RowIssue { line, problem });
                    }
                }
                Err(e) => {
                    self.done = true;
                    self.current = Vec::new().into_iter();
                    return Some(Err(e));
                }
            }
        }
    }
}

/// A csv error of the record at `line`: in memory, only invalid UTF-8 or an I/O failure.
fn csv_error(source_name: &str, error: csv::Error, line: u64) -> CoreError {
    match error.into_kind() {
        csv::ErrorKind::Io(e) => read_failed(source_name, &e, line),
        csv::ErrorKind::Utf8 { err, .. } => CoreError::BadRow {
            source_name: source_name.to_owned(),
            line,
            problem: RowProblem::Malformed(format!("field {} is not valid UTF-8", err.field() + 1)),
        },
        other => CoreError::BadRow {
            source_name: source_name.to_owned(),
            line,
            problem: RowProblem::Malformed(format!("{other:?}")),
        },
    }
}

fn read_failed(source_name: &str, e: &std::io::Error, line: u64) -> CoreError {
    CoreError::io(
        source_name,
        std::io::Error::new(
            e.kind(),
            format!("read failed near line {line}: {e} (truncated or corrupted file?)"),
        ),
    )
}

/// Reads every row of a file (for training), honouring `mode`.
pub fn read_all(path: &Path, mode: ReadMode) -> Result<(Vec<Transaction>, TransactionReader)> {
    let mut reader = TransactionReader::open(path, mode)?;
    let mut rows = Vec::new();
    for row in reader.by_ref() {
        rows.push(row?);
    }
    Ok((rows, reader))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = ",trans_date_trans_time,cc_num,merchant,category,amt,first,last,gender,street,city,state,zip,lat,long,city_pop,job,dob,trans_num,unix_time,merch_lat,merch_long,is_fraud";
    const ROW: &str = "0,2019-01-01 00:00:18,2703186189652095,\"fraud_Rippin, Kub and Mann\",misc_net,4.97,Jennifer,Banks,F,561 Perry Cove,Moravian Falls,NC,28654,36.0788,-81.1781,3495,\"Psychologist, counselling\",1988-03-09,0b242abb623afc578575680df30655b9,1325376018,49.159046999999994,-82.048315,0";

    fn read(text: &str, mode: ReadMode) -> (Vec<Result<Transaction>>, TransactionReader) {
        let mut reader = TransactionReader::from_reader(
            std::io::Cursor::new(text.as_bytes().to_vec()),
            "test.csv",
            mode,
        )
        .unwrap();
        let rows: Vec<_> = reader.by_ref().collect();
        (rows, reader)
    }

    #[test]
    fn reads_quoted_commas_17_digit_floats_lf_and_crlf() {
        for eol in ["\n", "\r\n"] {
            let text = format!("{HEADER}{eol}{ROW}{eol}{ROW}{eol}");
            let (rows, reader) = read(&text, ReadMode::Strict);
            assert_eq!(rows.len(), 2);
            let txn = rows[0].as_ref().unwrap();
            assert_eq!(txn.merchant, "fraud_Rippin, Kub and Mann");
            assert_eq!(txn.job, "Psychologist, counselling");
            assert_eq!(txn.merch_lat, 49.159046999999994);
            assert_eq!(txn.is_fraud, Some(0));
            assert!(reader.has_labels());
        }
    }

    #[test]
    fn reads_zstd_streams() {
        let text = format!("{HEADER}\n{ROW}\n");
        let packed = zstd::encode_all(text.as_bytes(), 3).unwrap();
        let reader = TransactionReader::from_reader(
            std::io::Cursor::new(packed),
            "x.csv.zst",
            ReadMode::Strict,
        )
        .unwrap();
        assert_eq!(
            reader.map(|r| r.unwrap().amt).collect::<Vec<_>>(),
            vec![4.97]
        );
    }

    #[test]
    fn a_truncated_zstd_stream_is_an_error_not_a_short_read() {
        let rows: String = (0..5000)
            .map(|i| ROW.replace("0,2019", &format!("{i},2019")) + "\n")
            .collect();
        let packed = zstd::encode_all(format!("{HEADER}\n{rows}").as_bytes(), 3).unwrap();
        let cut = packed[..packed.len() / 2].to_vec();
        let reader = TransactionReader::from_reader(
            std::io::Cursor::new(cut),
            "x.csv.zst",
            ReadMode::Lenient,
        )
        .unwrap();
        let results: Vec<_> = reader.collect();
        assert!(results.len() > 100, "rows before the cut are read");
        let err = results.last().unwrap().as_ref().unwrap_err();
        assert!(matches!(err, CoreError::Io { .. }), "{err}");
        assert!(err.to_string().contains("x.csv.zst"), "{err}");
    }

    #[test]
    fn unlabeled_files_without_index_are_read() {
        let header = HEADER.trim_start_matches(',').trim_end_matches(",is_fraud");
        let row = ROW.trim_start_matches("0,").trim_end_matches(",0");
        let (rows, reader) = read(&format!("{header}\n{row}\n"), ReadMode::Strict);
        let txn = rows[0].as_ref().unwrap();
        assert_eq!((txn.index, txn.is_fraud), (None, None));
        assert!(!reader.has_labels());
    }

    #[test]
    fn bad_rows_name_line_and_field_and_lenient_mode_skips_them() {
        let bad_amount = ROW.replace(",4.97,", ",abc,");
        let nan_amount = ROW.replace(",4.97,", ",NaN,");
        let truncated = &ROW[..60];
        for eol in ["\n", "\r\n"] {
            let text = [HEADER, ROW, &bad_amount, &nan_amount, ROW, truncated].join(eol);
            let (_, reader) = read(&text, ReadMode::Lenient);
            let lines: Vec<u64> = reader.issues().iter().map(|i| i.line).collect();
            assert_eq!(lines, vec![3, 4, 6], "line ends {eol:?}");
        }
        let text = format!("{HEADER}\n{ROW}\n{bad_amount}\n{nan_amount}\n{ROW}\n{truncated}");

        let (rows, _) = read(&text, ReadMode::Strict);
        let err = rows[1].as_ref().unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("test.csv, line 3") && message.contains("`amt`"),
            "{message}"
        );
        assert!(message.contains("abc"), "{message}");
        assert_eq!(rows.len(), 2, "strict mode stops at the first bad row");

        let (rows, reader) = read(&text, ReadMode::Lenient);
        assert_eq!(rows.iter().filter(|r| r.is_ok()).count(), 2);
        assert_eq!(reader.skipped(), 3);
        let lines: Vec<u64> = reader.issues().iter().map(|i| i.line).collect();
        assert_eq!(lines, vec![3, 4, 6]);
        assert_eq!(reader.issues()[1].problem.field(), Some("amt"));
        assert!(reader.issues()[1].problem.to_string().contains("finite"));
        assert!(matches!(
            reader.issues()[2].problem,
            RowProblem::FieldCount { expected: 23, .. }
        ));
    }

    #[test]
    fn header_problems_are_named() {
        let err = TransactionReader::from_reader(
            std::io::Cursor::new(b"".to_vec()),
            "empty.csv",
            ReadMode::Strict,
        )
        .unwrap_err();
        assert!(matches!(err, CoreError::EmptyFile { .. }), "{err}");

        let header = HEADER.replace(",amt,", ",amount,");
        let err = TransactionReader::from_reader(
            std::io::Cursor::new(format!("{header}\n{ROW}\n").into_bytes()),
            "wrong.csv",
            ReadMode::Strict,
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("wrong.csv, line 1") && message.contains("amt"),
            "{message}"
        );
    }

    #[test]
    fn card_numbers_are_not_echoed_in_errors() {
        let row = ROW.replace("2703186189652095", "27031861896520X5");
        let (rows, _) = read(&format!("{HEADER}\n{row}\n"), ReadMode::Strict);
        let message = rows[0].as_ref().unwrap_err().to_string();
        assert!(
            message.contains("cc_num") && !message.contains("27031861896520X5"),
            "{message}"
        );
    }
}
