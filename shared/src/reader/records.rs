//! Splits a chunk of whole CSV records into fields, with exactly the csv crate's reading of
//! them (comma, `"` quotes doubled inside quotes, CR, LF or CRLF record ends, empty lines
//! skipped), but faster: a plain line is split at its commas with a vectorised byte search,
//! and a quoted field without an inner quote or line end is taken whole. Anything else (an
//! escaped quote, a line end inside quotes, a lone CR, a quote inside an unquoted field) goes to
//! csv-core, the csv crate's own state machine, for that record only. On the Kaggle files every
//! record takes the fast path; a differential test holds both to the csv crate.

use memchr::{memchr, memchr_iter, memchr2};

/// One record's fields: ranges into its text.
#[derive(Debug)]
pub(crate) struct Record<'r> {
    /// The file line where the record starts.
    pub line: u64,
    text: &'r str,
    ranges: &'r [(usize, usize)],
}

impl<'r> Record<'r> {
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn get(&self, i: usize) -> Option<&'r str> {
        self.ranges
            .get(i)
            .map(|&(start, end)| &self.text[start..end])
    }

    pub fn to_string_record(&self) -> csv::StringRecord {
        (0..self.len()).filter_map(|i| self.get(i)).collect()
    }
}

/// A record that is not valid UTF-8: its line and the first bad field (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotUtf8 {
    pub line: u64,
    pub field: usize,
}

/// Reads the records of one chunk in order (a lending iterator: each record borrows the splitter).
pub(crate) struct RecordSplitter<'c> {
    bytes: &'c [u8],
    pos: usize,
    line: u64,
    core: csv_core::Reader,
    /// csv-core's output: the record's unescaped bytes and the end of each field.
    out: Vec<u8>,
    ends: Vec<usize>,
    ranges: Vec<(usize, usize)>,
}

impl<'c> RecordSplitter<'c> {
    /// `bytes` hold whole records; the first starts on file line `first_line`.
    pub fn new(bytes: &'c [u8], first_line: u64) -> Self {
        RecordSplitter {
            bytes,
            pos: 0,
            line: first_line,
            core: csv_core::Reader::new(),
            out: vec![0; 1024],
            ends: vec![0; 64],
            ranges: Vec::with_capacity(32),
        }
    }

    /// The next record, `None` at the end of the chunk.
    pub fn next_record(&mut self) -> Option<Result<Record<'_>, NotUtf8>> {
        // Line ends at a record's start are empty lines (a lone CR too), which csv skips.
        while let Some(&end @ (b'\r' | b'\n')) = self.bytes.get(self.pos) {
            self.pos += 1;
            self.line += u64::from(end == b'\n');
        }
        if self.pos == self.bytes.len() {
            return None;
        }
        let line = self.line;
        let rest = &self.bytes[self.pos..];
        let end = memchr(b'\n', rest).unwrap_or(rest.len());
        let content = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
        self.ranges.clear();
        if memchr(b'\r', content).is_none() && split_line(content, &mut self.ranges) {
            self.pos += (end + 1).min(rest.len());
            self.line += u64::from(end < rest.len());
            let ranges = &self.ranges;
            return Some(checked(content, ranges, line).map(|text| Record { line, text, ranges }));
        }
        self.core_record(line)
    }

    /// One record through csv-core, from `pos`; `None` when only line ends were left.
    fn core_record(&mut self, line: u64) -> Option<Result<Record<'_>, NotUtf8>> {
        use csv_core::ReadRecordResult as R;
        let (mut consumed, mut written, mut fields) = (0, 0, 0);
        loop {
            let input = &self.bytes[self.pos + consumed..];
            let (result, nin, nout, nend) =
                self.core
                    .read_record(input, &mut self.out[written..], &mut self.ends[fields..]);
            consumed += nin;
            written += nout;
            fields += nend;
            match result {
                // All input taken without a record end: an empty input next says the data ended.
                R::InputEmpty => {}
                R::OutputFull => self.out.resize(self.out.len() * 2, 0),
                R::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                R::Record => break,
                R::End => {
                    self.pos = self.bytes.len();
                    return None;
                }
            }
        }
        let taken = &self.bytes[self.pos..self.pos + consumed];
        self.line += memchr_iter(b'\n', taken).count() as u64;
        self.pos += consumed;
        self.ranges.clear();
        let mut start = 0;
        for &end in &self.ends[..fields] {
            self.ranges.push((start, end));
            start = end;
        }
        let text = &self.out[..written];
        let ranges = &self.ranges;
        Some(checked(text, ranges, line).map(|text| Record { line, text, ranges }))
    }
}

/// Splits a line with no CR into `ranges`; false when it needs csv-core (a quote anywhere but
/// around a whole field, or a quoted field that does not close on this line).
fn split_line(line: &[u8], ranges: &mut Vec<(usize, usize)>) -> bool {
    if memchr(b'"', line).is_none() {
        let mut start = 0;
        for comma in memchr_iter(b',', line) {
            ranges.push((start, comma));
            start = comma + 1;
        }
        ranges.push((start, line.len()));
        return true;
    }
    let mut start = 0;
    loop {
        if line.get(start) == Some(&b'"') {
            let Some(close) = memchr(b'"', &line[start + 1..]).map(|k| start + 1 + k) else {
                return false;
            };
            ranges.push((start + 1, close));
            match line.get(close + 1) {
                None => return true,
                Some(b',') => start = close + 2,
                Some(_) => return false, // a doubled quote, or text after the closing one
            }
        } else {
            match memchr2(b',', b'"', &line[start..]).map(|k| start + k) {
                None => {
                    ranges.push((start, line.len()));
                    return true;
                }
                Some(at) if line[at] == b',' => {
                    ranges.push((start, at));
                    start = at + 1;
                }
                Some(_) => return false, // a quote inside an unquoted field
            }
        }
        if start == line.len() {
            ranges.push((start, start)); // the empty last field after a final comma
            return true;
        }
    }
}

/// `bytes` as text, or the first field that is not UTF-8.
fn checked<'b>(bytes: &'b [u8], ranges: &[(usize, usize)], line: u64) -> Result<&'b str, NotUtf8> {
    std::str::from_utf8(bytes).map_err(|_| NotUtf8 {
        line,
        field: ranges
            .iter()
            .position(|&(s, e)| std::str::from_utf8(&bytes[s..e]).is_err())
            .unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records and their start lines as the csv crate reads them, with the start line counted
    /// from the bytes (the number of LFs before the record's first byte, plus one; the crate's
    /// own position is where it began to read, before the line ends it skipped).
    fn by_csv_crate(bytes: &[u8]) -> Vec<Result<(u64, Vec<String>), u64>> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(false)
            .from_reader(bytes);
        let mut out = Vec::new();
        let mut record = csv::ByteRecord::new();
        loop {
            let before = reader.position().byte() as usize;
            match reader.read_byte_record(&mut record) {
                Ok(false) => return out,
                Ok(true) => {
                    let mut start = record.position().map_or(before, |p| p.byte() as usize);
                    while matches!(bytes.get(start), Some(b'\r' | b'\n')) {
                        start += 1;
                    }
                    let line = 1 + memchr_iter(b'\n', &bytes[..start]).count() as u64;
                    match std::str::from_utf8(record.as_slice()) {
                        Ok(_) => out.push(Ok((
                            line,
                            record
                                .iter()
                                .map(|f| String::from_utf8(f.to_vec()).unwrap())
                                .collect(),
                        ))),
                        Err(_) => out.push(Err(line)),
                    }
                }
                Err(e) => panic!("the csv crate fails in memory only on I/O: {e}"),
            }
        }
    }

    fn by_splitter(bytes: &[u8]) -> Vec<Result<(u64, Vec<String>), u64>> {
        let mut splitter = RecordSplitter::new(bytes, 1);
        let mut out = Vec::new();
        while let Some(record) = splitter.next_record() {
            out.push(match record {
                Ok(r) => Ok((
                    r.line,
                    (0..r.len()).map(|i| r.get(i).unwrap().to_owned()).collect(),
                )),
                Err(e) => Err(e.line),
            });
        }
        out
    }

    #[test]
    fn plain_quoted_and_unusual_records() {
        let text = b"a,b,c\n\"x, y\",2,\"\"\r\n\r\n\nq\"\"uote,\"say \"\"hi\"\"\",\"multi\nline\"\r\nlone\rcr,z\nlast,";
        let got = by_splitter(text);
        assert_eq!(got, by_csv_crate(text));
        let rows: Vec<Vec<String>> = got.into_iter().map(|r| r.unwrap().1).collect();
        assert_eq!(rows[1], ["x, y", "2", ""]);
        assert_eq!(rows[2], ["q\"\"uote", "say \"hi\"", "multi\nline"]);
        assert_eq!(rows.last().unwrap(), &["last", ""]);
    }

    #[test]
    fn the_first_bad_utf8_field_is_named() {
        let mut splitter = RecordSplitter::new(b"ok\na,b\xff,c\n", 10);
        assert!(splitter.next_record().unwrap().is_ok());
        let bad = splitter.next_record().unwrap().unwrap_err();
        assert_eq!(bad, NotUtf8 { line: 11, field: 1 });
        assert!(splitter.next_record().is_none());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn reads_like_the_csv_crate(
            picks in proptest::collection::vec(0usize..12, 0..200),
        ) {
            // Few symbols, so quotes, line ends and delimiters meet in every combination.
            const SYMBOLS: [&[u8]; 12] = [
                b"a", b"b", b",", b",", b"\"", b"\"", b"\n", b"\r\n", b"\r", b" ", b"\xff", b"12",
            ];
            let bytes: Vec<u8> = picks.iter().flat_map(|&k| SYMBOLS[k].iter().copied()).collect();
            proptest::prop_assert_eq!(by_splitter(&bytes), by_csv_crate(&bytes));
        }
    }
}
