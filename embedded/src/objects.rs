//! Objects as files under a directory: the embedded twin of the S3 object store.

use std::path::{Path, PathBuf};

use fraud_core::ports::{ObjectReader, ObjectStore, StoreError};
use fraud_core::registry::{LoadedModel, ModelLoadError, load_model};

/// Objects as files under a root directory.
#[derive(Debug, Clone)]
pub struct LocalObjectStore {
    root: PathBuf,
    /// The bucket this directory stands in for, when named: handlers then refuse events of
    /// other buckets, as on AWS.
    bucket: Option<String>,
}

impl LocalObjectStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalObjectStore {
            root: root.into(),
            bucket: None,
        }
    }

    /// The same directory standing in for bucket `name`.
    pub fn standing_in_for(mut self, name: impl Into<String>) -> Self {
        self.bucket = Some(name.into());
        self
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        if key.split('/').any(|part| part == ".." || part.is_empty()) || key.starts_with('/') {
            return Err(StoreError::Failed {
                what: key.to_owned(),
                reason: "not a relative object key".into(),
            });
        }
        Ok(self.root.join(key))
    }
}

impl ObjectStore for LocalObjectStore {
    async fn open(&self, key: &str) -> Result<ObjectReader, StoreError> {
        let path = self.path(key)?;
        let what = || path.display().to_string();
        let file = std::fs::File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StoreError::NotFound { what: what() },
            _ => StoreError::Failed {
                what: what(),
                reason: e.to_string(),
            },
        })?;
        let etag = file.metadata().ok().map(|m| {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{}-{modified}", m.len())
        });
        Ok(ObjectReader {
            reader: Box::new(file),
            etag,
        })
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path(key)?;
        std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StoreError::NotFound {
                what: path.display().to_string(),
            },
            _ => StoreError::Failed {
                what: path.display().to_string(),
                reason: e.to_string(),
            },
        })
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let failed = |e: std::io::Error| StoreError::Failed {
            what: path.display().to_string(),
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(failed)?;
        }
        let tmp = path.with_extension("partial");
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(failed)
    }

    fn bucket(&self) -> Option<&str> {
        self.bucket.as_deref()
    }

    fn describe(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }
}

/// Loads a local artifact or pointer file (a pointer's key is relative to its directory).
pub async fn load_model_file(path: &Path) -> Result<LoadedModel, ModelLoadError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    load_model(&LocalObjectStore::new(dir), &file).await
}
