//! The write-ahead journal beside a database file. A commit group is appended as one
//! checksummed record and made durable with one `fdatasync`, which costs about a third of a
//! database commit (redb's syncs twice and rewrites the B-tree pages it touched). The database
//! takes the same changes unsynced and is synced (a checkpoint) only every few megabytes; then
//! the journal starts over from its first byte under a new epoch, so the old records left in
//! the file are never read as new ones.
//!
//! A record is `length u32 | crc32 u32 | epoch u64 | payload`, little-endian; the checksum
//! covers the epoch and the payload. Reading stops at the first record that is short, fails its
//! checksum or belongs to another epoch: a record torn by a crash was never acknowledged (its
//! caller waits for the sync), so nothing acknowledged is behind it.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const HEADER: usize = 16;

/// A journal's epoch and the payloads of its records, in the order written.
pub(crate) type Records = (u64, Vec<Vec<u8>>);

/// The journal file of one database.
#[derive(Debug)]
pub(crate) struct Journal {
    /// Shared with the threads that sync it.
    file: Arc<File>,
    path: PathBuf,
    /// Where the next record goes.
    end: u64,
    epoch: u64,
}

/// The two journals of the database at `database` (its name with `.journal-0` and
/// `.journal-1` added): one takes new groups while the other's are being checkpointed.
pub(crate) fn paths_for(database: &Path) -> [PathBuf; 2] {
    ["0", "1"].map(|n| {
        let mut name = database.as_os_str().to_owned();
        name.push(format!(".journal-{n}"));
        PathBuf::from(name)
    })
}

impl Journal {
    /// Opens (or creates) the journal at `path` and returns it with the epoch of its first
    /// record and the payloads of that epoch's records, in the order they were written. Call
    /// [`Journal::restart`] before appending.
    pub(crate) fn open(path: &Path) -> std::io::Result<(Journal, Option<Records>)> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let journal = Journal {
            file: Arc::new(file),
            path: path.to_owned(),
            end: 0,
            epoch: 0,
        };
        let first_epoch = bytes
            .get(8..HEADER)
            .map(|e| u64::from_le_bytes(e.try_into().expect("8 bytes")));
        let found = first_epoch
            .map(|epoch| (epoch, records_of(&bytes, epoch)))
            .filter(|(_, records)| !records.is_empty());
        if let Some((epoch, records)) = &found
            && damaged_in_the_middle(&bytes, *epoch, records.len())
        {
            tracing::error!(journal = %path.display(), epoch, read = records.len(), "a damaged journal record is followed by whole ones, which are not applied: a crash leaves this only when two unsynced groups reach the disk out of order; otherwise the journal is damaged and changes after it are lost");
        }
        Ok((journal, found))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// `problem` with the journal's name.
    pub(crate) fn failed(&self, problem: std::io::Error) -> String {
        format!("journal {}: {problem}", self.path.display())
    }

    /// Bytes written since the last restart.
    pub(crate) fn len(&self) -> u64 {
        self.end
    }

    /// Writes `payload` as the next record (not yet durable: see [`Journal::sync`]).
    pub(crate) fn append(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let record = encode(self.epoch, payload)?;
        self.file.write_all_at(&record, self.end)?;
        self.end += record.len() as u64;
        Ok(())
    }

    /// Returns once every record appended so far is on disk.
    pub(crate) fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    /// The file, for a thread that syncs it: a sync makes every record appended before it
    /// durable.
    pub(crate) fn file(&self) -> Arc<File> {
        self.file.clone()
    }

    /// Starts over from the first byte under `epoch`: what it held is in the database (or is
    /// another database's). The file keeps its length, so its blocks are overwritten in place
    /// and a sync need not update the file's size; the old records after the new ones belong
    /// to earlier epochs and are never read as new.
    pub(crate) fn restart(&mut self, epoch: u64) {
        self.end = 0;
        self.epoch = epoch;
    }
}

fn encode(epoch: u64, payload: &[u8]) -> std::io::Result<Vec<u8>> {
    let length = u32::try_from(payload.len()).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("a journal record of {} bytes is too long", payload.len()),
        )
    })?;
    let mut record = Vec::with_capacity(HEADER + payload.len());
    record.extend_from_slice(&length.to_le_bytes());
    record.extend_from_slice(&checksum(epoch, payload).to_le_bytes());
    record.extend_from_slice(&epoch.to_le_bytes());
    record.extend_from_slice(payload);
    Ok(record)
}

fn checksum(epoch: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&epoch.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// The payloads of `epoch`'s records at the start of `bytes`, up to the first that is not one.
fn records_of(bytes: &[u8], epoch: u64) -> Vec<Vec<u8>> {
    let mut records = Vec::new();
    let mut at = 0;
    while let Some(payload) = record_at(bytes, at, epoch) {
        records.push(payload.to_vec());
        at += HEADER + payload.len();
    }
    records
}

/// The payload of the record of `epoch` at `at`, if there is a whole one.
fn record_at(bytes: &[u8], at: usize, epoch: u64) -> Option<&[u8]> {
    let header = bytes.get(at..at + HEADER)?;
    let length = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    let written_in = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    let payload = bytes.get(at + HEADER..at + HEADER + length)?;
    (written_in == epoch && checksum(epoch, payload) == crc).then_some(payload)
}

/// Whether the record after the `count` readable ones of `epoch` fails its checksum while the
/// one after it is whole: a crash leaves that only when two unsynced groups reach the disk out
/// of order; otherwise a record in the middle is damaged, and the ones after it are lost.
fn damaged_in_the_middle(bytes: &[u8], epoch: u64, count: usize) -> bool {
    let mut at = 0;
    for _ in 0..count {
        let Some(payload) = record_at(bytes, at, epoch) else {
            return false;
        };
        at += HEADER + payload.len();
    }
    let Some(header) = bytes.get(at..at + HEADER) else {
        return false;
    };
    let length = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
    let same_epoch = header[8..16] == epoch.to_le_bytes();
    same_epoch && record_at(bytes, at + HEADER + length, epoch).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal_with(epoch: u64, payloads: &[&[u8]]) -> Vec<u8> {
        payloads
            .iter()
            .flat_map(|p| encode(epoch, p).unwrap())
            .collect()
    }

    #[test]
    fn reads_back_the_records_of_its_epoch_in_order() {
        let bytes = journal_with(7, &[b"one", b"", b"three"]);
        assert_eq!(
            records_of(&bytes, 7),
            vec![b"one".to_vec(), vec![], b"three".to_vec()]
        );
        assert!(records_of(&bytes, 6).is_empty());
        assert!(records_of(&bytes, 8).is_empty());
    }

    #[test]
    fn stops_at_a_torn_or_damaged_record_and_at_older_ones() {
        let mut bytes = journal_with(3, &[b"kept", b"torn record"]);
        bytes.truncate(bytes.len() - 2);
        assert_eq!(records_of(&bytes, 3), vec![b"kept".to_vec()]);

        let mut bytes = journal_with(3, &[b"kept", b"flipped", b"after"]);
        let flipped = HEADER + 4 + HEADER + 2;
        bytes[flipped] ^= 1;
        assert_eq!(records_of(&bytes, 3), vec![b"kept".to_vec()]);

        // A new epoch written over an old one: the old records after it are not read.
        let mut bytes = journal_with(3, &[b"old-1", b"old-2", b"old-3"]);
        let new = journal_with(4, &[b"new-1"]);
        bytes[..new.len()].copy_from_slice(&new);
        assert_eq!(records_of(&bytes, 4), vec![b"new-1".to_vec()]);
        // A zero-filled tail is not a record of any epoch.
        assert!(records_of(&[0; 64], 0).is_empty());
    }

    #[test]
    fn a_damaged_record_followed_by_whole_ones_is_told_apart_from_a_torn_tail() {
        let mut bytes = journal_with(5, &[b"kept", b"flipped", b"after"]);
        assert!(!damaged_in_the_middle(&bytes, 5, 3));
        bytes[HEADER + 4 + HEADER + 2] ^= 1;
        assert!(damaged_in_the_middle(&bytes, 5, 1));
        let mut torn = journal_with(5, &[b"kept", b"torn"]);
        torn.truncate(torn.len() - 1);
        assert!(!damaged_in_the_middle(&torn, 5, 1));
    }

    #[test]
    fn a_reopened_journal_returns_what_was_appended_and_a_restart_forgets_it() {
        let dir = tempfile::tempdir().unwrap();
        let [path, _] = paths_for(&dir.path().join("store.db"));
        let (mut journal, found) = Journal::open(&path).unwrap();
        assert!(found.is_none());
        journal.restart(1);
        journal.append(b"first").unwrap();
        journal.append(b"second").unwrap();
        journal.sync().unwrap();
        drop(journal);
        let (mut journal, found) = Journal::open(&path).unwrap();
        assert_eq!(
            found,
            Some((1, vec![b"first".to_vec(), b"second".to_vec()]))
        );
        journal.restart(2);
        journal.append(b"third").unwrap();
        journal.sync().unwrap();
        drop(journal);
        // Overwritten in place: the second epoch-1 record is still behind it, and not read.
        assert_eq!(
            Journal::open(&path).unwrap().1,
            Some((2, vec![b"third".to_vec()]))
        );
    }
}
