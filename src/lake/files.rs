//! The lake's files, wherever they are: a path on the local file system, or the URL of an
//! object (`s3://bucket/key`, see [`super::store`]). piguard's own reads, listings, writes
//! and deletes go through here, so the commands above never ask which store a lake is on.
//!
//! Local writes keep their durability steps (a temporary, fsync, rename, fsync of the
//! directory). On an object store a PUT is atomic per object (readers see the old object or
//! the new, never a part), directories are only prefixes of keys (listing one with nothing
//! under it is "not found"), and nothing needs syncing.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::TMP_PREFIX;
use super::store::{Object, block_on, object_of};

/// A file's size and when it was last written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMeta {
    pub len: u64,
    pub modified: SystemTime,
}

/// An object-store error as an I/O error of the same kind (what is missing is `NotFound`).
pub(crate) fn io_error(e: object_store::Error) -> io::Error {
    let kind = match &e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        object_store::Error::AlreadyExists { .. } => io::ErrorKind::AlreadyExists,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

/// The object `path` names, or `None` for a local path.
pub(crate) fn remote(path: &Path) -> io::Result<Option<Object>> {
    object_of(path).map_err(io::Error::other)
}

/// The prefix an object's key lists under as a directory (none for a bucket's root).
fn prefix_of(object: &Object) -> Option<object_store::path::Path> {
    (!object.location.as_ref().is_empty()).then(|| object.location.clone())
}

/// The size and modification time of file `path`.
pub fn meta(path: &Path) -> io::Result<FileMeta> {
    match remote(path)? {
        None => {
            let m = std::fs::metadata(path)?;
            Ok(FileMeta { len: m.len(), modified: m.modified()? })
        }
        Some(o) => {
            let m = block_on(async move { o.store.head(&o.location).await }).map_err(io_error)?;
            Ok(FileMeta { len: m.size, modified: m.last_modified.into() })
        }
    }
}

/// Whether `path` is a file (an object).
pub fn is_file(path: &Path) -> bool {
    match remote(path) {
        Ok(None) => path.is_file(),
        Ok(Some(_)) => meta(path).is_ok(),
        Err(_) => false,
    }
}

/// Whether `path` is a directory (on an object store: whether any object is under it).
pub fn is_dir(path: &Path) -> bool {
    match remote(path) {
        Ok(None) => path.is_dir(),
        Ok(Some(o)) => block_on(async move {
            let prefix = prefix_of(&o);
            matches!(o.store.list(prefix.as_ref()).next().await, Some(Ok(_)))
        }),
        Err(_) => false,
    }
}

/// Whether anything is at `path`.
pub fn exists(path: &Path) -> bool {
    is_dir(path) || is_file(path)
}

/// One entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub path: PathBuf,
    pub is_dir: bool,
}

/// The entries directly in directory `dir`, sorted by path. A missing directory (on an
/// object store: one with nothing under it) is `NotFound`.
pub fn list_dir(dir: &Path) -> io::Result<Vec<DirEntry>> {
    let mut entries = match remote(dir)? {
        None => {
            let mut entries = Vec::new();
            for entry in std::fs::read_dir(dir)? {
                let path = entry?.path();
                entries.push(DirEntry { is_dir: path.is_dir(), path });
            }
            entries
        }
        Some(o) => {
            let listed = block_on(async move {
                let prefix = prefix_of(&o);
                o.store.list_with_delimiter(prefix.as_ref()).await
            })
            .map_err(io_error)?;
            let dirs = listed.common_prefixes.iter().map(|p| (p, true));
            let files = listed.objects.iter().map(|m| (&m.location, false));
            let entries: Vec<DirEntry> =
                dirs.chain(files).filter_map(|(p, is_dir)| p.filename().map(|name| DirEntry { path: dir.join(name), is_dir })).collect();
            if entries.is_empty() {
                return Err(io::Error::new(io::ErrorKind::NotFound, format!("{}: nothing is stored there", dir.display())));
            }
            entries
        }
    };
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// The first symbolic link under local directory `dir` (links are not followed), if any;
/// none when `dir` is missing.
pub fn first_symlink(dir: &Path) -> io::Result<Option<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut paths: Vec<(PathBuf, std::fs::FileType)> = Vec::new();
    for entry in entries {
        let entry = entry?;
        paths.push((entry.path(), entry.file_type()?));
    }
    paths.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, kind) in paths {
        if kind.is_symlink() {
            return Ok(Some(path));
        }
        if kind.is_dir()
            && let Some(link) = first_symlink(&path)?
        {
            return Ok(Some(link));
        }
    }
    Ok(None)
}

/// Every file under directory `dir`, at any depth, with its size and time, sorted by path;
/// none when `dir` is missing. On an object store this is one listing, however deep.
pub fn walk(dir: &Path) -> io::Result<Vec<(PathBuf, FileMeta)>> {
    let mut files = match remote(dir)? {
        None => {
            let mut files = Vec::new();
            let mut dirs = vec![dir.to_path_buf()];
            while let Some(d) = dirs.pop() {
                let entries = match std::fs::read_dir(&d) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                for entry in entries {
                    let path = entry?.path();
                    if path.is_dir() {
                        dirs.push(path);
                    } else {
                        let m = std::fs::metadata(&path)?;
                        files.push((path, FileMeta { len: m.len(), modified: m.modified()? }));
                    }
                }
            }
            files
        }
        Some(o) => {
            let base = o.location.clone();
            let listed: Vec<object_store::ObjectMeta> = block_on(async move {
                let prefix = prefix_of(&o);
                o.store.list(prefix.as_ref()).try_collect().await
            })
            .map_err(io_error)?;
            listed
                .into_iter()
                .filter_map(|m| {
                    let path = m.location.prefix_match(&base)?.fold(dir.to_path_buf(), |p, part| p.join(part.as_ref()));
                    Some((path, FileMeta { len: m.size, modified: m.last_modified.into() }))
                })
                .collect()
        }
    };
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// The whole of file `path`.
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    match remote(path)? {
        None => std::fs::read(path),
        Some(o) => block_on(async move {
            let got = o.store.get(&o.location).await?;
            got.bytes().await
        })
        .map(|b| b.to_vec())
        .map_err(io_error),
    }
}

/// Writes `bytes` to `path` atomically: locally a temporary file in the same directory,
/// synced, renamed over the target and the rename synced; on an object store one PUT.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(o) = remote(path)? {
        let payload = PutPayload::from(bytes.to_vec());
        return block_on(async move { o.store.put(&o.location, payload).await }).map(|_| ()).map_err(io_error);
    }
    write_local(path, |file| file.write_all(bytes))
}

/// Writes local file `path` atomically with what `fill` writes: a temporary file in the same
/// directory, synced, renamed over the target and the rename synced.
fn write_local(path: &Path, fill: impl FnOnce(&mut std::fs::File) -> io::Result<()>) -> io::Result<()> {
    let dir = parent_dir(path);
    std::fs::create_dir_all(dir)?;
    // Readable like the data files beside it (tempfile's default is owner-only).
    let mut tmp =
        tempfile::Builder::new().prefix(TMP_PREFIX).permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644)).tempfile_in(dir)?;
    fill(tmp.as_file_mut())?;
    let tmp = tmp.into_temp_path();
    publish(&tmp, path)?;
    // Renamed away: nothing is left for the guard to remove.
    tmp.keep().map_err(|e| e.error)?;
    Ok(())
}

/// Writes `path` (a path or a URL) with what `fill` writes, whole or not at all: locally as
/// [`write_atomic`] does; for an object store into a local temporary file first, then uploaded.
pub fn write_streamed(path: &Path, fill: impl FnOnce(&mut (dyn Write + Send)) -> io::Result<()>) -> io::Result<()> {
    if remote(path)?.is_none() {
        return write_local(path, |file| fill(file));
    }
    let mut staged = tempfile::NamedTempFile::new()?;
    fill(staged.as_file_mut())?;
    staged.as_file_mut().flush()?;
    copy_from_local(staged.path(), path)
}

/// Copies local file `from` to `to` (a path or a URL), streaming: whole or not at all.
pub fn copy_from_local(from: &Path, to: &Path) -> io::Result<()> {
    let mut file = std::fs::File::open(from)?;
    let Some(o) = remote(to)? else {
        return write_local(to, |tmp| io::copy(&mut file, tmp).map(|_| ()));
    };
    block_on(async move {
        // Large files go up in parts; the object appears only when the upload completes.
        let mut upload = object_store::buffered::BufWriter::new(o.store.clone(), o.location.clone());
        let mut buf = vec![0u8; 8 << 20];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            tokio::io::AsyncWriteExt::write_all(&mut upload, &buf[..n]).await?;
        }
        tokio::io::AsyncWriteExt::shutdown(&mut upload).await
    })
}

/// Copies every file under local directory `from` to the same place under `to`, one file at
/// a time (on an object store, the files appear one by one).
pub fn upload_dir(from: &Path, to: &Path) -> io::Result<()> {
    for (path, _) in walk(from)? {
        let rel = path.strip_prefix(from).map_err(io::Error::other)?;
        copy_from_local(&path, &to.join(rel))?;
    }
    Ok(())
}

/// Deletes file `path`; one that is already gone is no error.
pub fn delete(path: &Path) -> io::Result<()> {
    let result = match remote(path)? {
        None => std::fs::remove_file(path),
        Some(o) => block_on(async move { o.store.delete(&o.location).await }).map_err(io_error),
    };
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Deletes directory `dir` and everything under it; a missing one is no error.
pub fn delete_tree(dir: &Path) -> io::Result<()> {
    let Some(o) = remote(dir)? else {
        return match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        };
    };
    block_on(async move {
        let prefix = prefix_of(&o);
        let locations = o.store.list(prefix.as_ref()).map_ok(|m| m.location).boxed();
        o.store.delete_stream(locations).try_collect::<Vec<_>>().await.map(|_| ())
    })
    .map_err(io_error)
}

/// Creates directory `dir` and its parents (nothing to do on an object store).
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    match remote(dir)? {
        None => std::fs::create_dir_all(dir),
        Some(_) => Ok(()),
    }
}

/// Makes a file written in place durable, and its name in its directory (a PUT that has
/// returned is durable already).
pub fn sync_file(path: &Path) -> io::Result<()> {
    if remote(path)?.is_some() {
        return Ok(());
    }
    std::fs::File::open(path)?.sync_all()?;
    sync_dir(parent_dir(path))
}

/// Syncs a local directory, so a rename or removal in it survives a power cut.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

pub(crate) fn parent_dir(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Publishes a finished local temporary file or directory: its contents synced, renamed over
/// `target` (readers see the old one or the new, never a part), and the rename made durable.
pub fn publish(tmp: &Path, target: &Path) -> io::Result<()> {
    sync_tree(tmp)?;
    std::fs::rename(tmp, target)?;
    sync_dir(parent_dir(target))
}

/// Syncs a file, or a directory and everything in it.
fn sync_tree(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            sync_tree(&entry?.path())?;
        }
    }
    std::fs::File::open(path)?.sync_all()
}

/// How much of an object is fetched first when it is read from start to end (a header, a
/// first record), and at most at a time after that: each fetch doubles the last.
const FIRST_CHUNK: u64 = 64 << 10;
const MAX_CHUNK: u64 = 8 << 20;

/// An open file of the lake, read sequentially ([`Read`]) or by ranges (Parquet's
/// [`ChunkReader`](parquet::file::reader::ChunkReader), for footers, statistics and bloom
/// filters): an object is fetched by ranged GETs, never downloaded whole.
#[derive(Debug)]
pub struct LakeFile {
    source: Source,
    len: u64,
}

#[derive(Debug)]
enum Source {
    Local(std::fs::File),
    Remote {
        object: Object,
        /// Where the next sequential read starts, and the chunk fetched last (from `buf_at`).
        pos: u64,
        buf: Bytes,
        buf_at: u64,
        chunk: u64,
        /// The last [`FIRST_CHUNK`] bytes, fetched by the first ranged read within them: a
        /// Parquet footer and its metadata then take one request, not two.
        tail: OnceLock<Bytes>,
    },
}

/// Opens file `path` for reading.
pub fn open(path: &Path) -> io::Result<LakeFile> {
    match remote(path)? {
        None => {
            let file = std::fs::File::open(path)?;
            let len = file.metadata()?.len();
            Ok(LakeFile { source: Source::Local(file), len })
        }
        Some(object) => {
            let (len, head) = fetch_head(&object)?;
            // A file read whole by the first request is its own tail.
            let tail = if head.len() as u64 == len { OnceLock::from(head.clone()) } else { OnceLock::new() };
            let source = Source::Remote { object, pos: 0, buf: head, buf_at: 0, chunk: FIRST_CHUNK * 2, tail };
            Ok(LakeFile { source, len })
        }
    }
}

/// An object's size and its first [`FIRST_CHUNK`] bytes, in one request: a small file is
/// then read whole, and a large one's header too. A store that refuses the range (an empty
/// object has none) is asked for the size alone.
fn fetch_head(object: &Object) -> io::Result<(u64, Bytes)> {
    let o = object.clone();
    let first = block_on(async move {
        let options = object_store::GetOptions { range: Some(object_store::GetRange::Bounded(0..FIRST_CHUNK)), ..Default::default() };
        let got = o.store.get_opts(&o.location, options).await?;
        let len = got.meta.size;
        Ok::<_, object_store::Error>((len, got.bytes().await?))
    });
    match first {
        Ok((len, head)) if head.len() as u64 == len.min(FIRST_CHUNK) => Ok((len, head)),
        Err(e @ object_store::Error::NotFound { .. }) => Err(io_error(e)),
        _ => {
            let o = object.clone();
            let len = block_on(async move { o.store.head(&o.location).await }).map_err(io_error)?.size;
            Ok((len, Bytes::new()))
        }
    }
}

fn get_range(object: &Object, start: u64, end: u64) -> io::Result<Bytes> {
    let o = object.clone();
    block_on(async move { o.store.get_range(&o.location, start..end).await }).map_err(io_error)
}

impl LakeFile {
    /// Its size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Another handle on the same file, reading from its start.
    pub fn try_clone(&self) -> io::Result<LakeFile> {
        self.reader_at(0)
    }

    /// Another handle on the same file, reading from `start`.
    fn reader_at(&self, start: u64) -> io::Result<LakeFile> {
        let source = match &self.source {
            Source::Local(file) => {
                let mut file = file.try_clone()?;
                file.seek(SeekFrom::Start(start))?;
                Source::Local(file)
            }
            Source::Remote { object, tail, .. } => Source::Remote {
                object: object.clone(),
                pos: start,
                buf: Bytes::new(),
                buf_at: start,
                chunk: FIRST_CHUNK,
                tail: tail.clone(),
            },
        };
        Ok(LakeFile { source, len: self.len })
    }
}

impl Read for LakeFile {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let len = self.len;
        match &mut self.source {
            Source::Local(file) => file.read(out),
            Source::Remote { object, pos, buf, buf_at, chunk, .. } => {
                if *pos >= len || out.is_empty() {
                    return Ok(0);
                }
                if *pos < *buf_at || *pos >= *buf_at + buf.len() as u64 {
                    *buf = get_range(object, *pos, (*pos + *chunk).min(len))?;
                    *buf_at = *pos;
                    *chunk = (*chunk * 2).min(MAX_CHUNK);
                }
                let from = (*pos - *buf_at) as usize;
                let n = out.len().min(buf.len() - from);
                out[..n].copy_from_slice(&buf[from..from + n]);
                *pos += n as u64;
                Ok(n)
            }
        }
    }
}

impl parquet::file::reader::Length for LakeFile {
    fn len(&self) -> u64 {
        self.len
    }
}

impl parquet::file::reader::ChunkReader for LakeFile {
    type T = LakeFile;

    fn get_read(&self, start: u64) -> parquet::errors::Result<LakeFile> {
        Ok(self.reader_at(start)?)
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match &self.source {
            Source::Local(file) => {
                let mut buf = vec![0u8; length];
                file.read_exact_at(&mut buf, start)?;
                Ok(buf.into())
            }
            Source::Remote { object, tail, .. } => {
                let end = start + length as u64;
                let tail_at = self.len.saturating_sub(FIRST_CHUNK);
                if start < tail_at || end > self.len {
                    return Ok(get_range(object, start, end)?);
                }
                let tail = match tail.get() {
                    Some(tail) => tail,
                    None => {
                        let fetched = get_range(object, tail_at, self.len)?;
                        tail.get_or_init(|| fetched)
                    }
                };
                Ok(tail.slice((start - tail_at) as usize..(end - tail_at) as usize))
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;

    /// A bucket of a fresh in-memory store, as `memory://NAME`.
    pub(crate) fn memory_bucket(name: &str) -> PathBuf {
        let url = url::Url::parse(&format!("memory://{name}/")).unwrap();
        super::super::store::register_store(&url, Arc::new(object_store::memory::InMemory::new()));
        PathBuf::from(format!("memory://{name}"))
    }

    #[test]
    fn an_object_store_reads_lists_and_deletes_as_a_directory_does() {
        let local = tempfile::tempdir().unwrap();
        for root in [local.path().join("lake"), memory_bucket("files-test").join("lake")] {
            let at = |rel: &str| root.join(rel);
            assert!(!exists(&root), "{root:?}");
            assert!(walk(&root).unwrap().is_empty());
            write_atomic(&at("raw/users/dt=2026-01-01/a.csv"), b"id\n1\n").unwrap();
            write_atomic(&at("raw/users/dt=2026-01-02/b.csv"), b"id\n2\n").unwrap();
            write_atomic(&at("raw/users/_SUCCESS"), b"").unwrap();
            assert!(is_dir(&at("raw/users")) && !is_file(&at("raw/users")));
            assert!(is_file(&at("raw/users/_SUCCESS")) && !is_dir(&at("raw/users/_SUCCESS")));
            let listed = list_dir(&at("raw/users")).unwrap();
            let names: Vec<(String, bool)> =
                listed.iter().map(|e| (e.path.file_name().unwrap().to_str().unwrap().to_string(), e.is_dir)).collect();
            assert_eq!(names, [("_SUCCESS".into(), false), ("dt=2026-01-01".into(), true), ("dt=2026-01-02".into(), true)], "{root:?}");
            assert_eq!(listed[1].path, at("raw/users/dt=2026-01-01"));
            assert_eq!(list_dir(&at("raw/nothing")).unwrap_err().kind(), io::ErrorKind::NotFound);
            let all: Vec<PathBuf> = walk(&at("raw")).unwrap().into_iter().map(|(p, _)| p).collect();
            assert_eq!(all, [at("raw/users/_SUCCESS"), at("raw/users/dt=2026-01-01/a.csv"), at("raw/users/dt=2026-01-02/b.csv")]);
            assert_eq!(meta(&at("raw/users/dt=2026-01-02/b.csv")).unwrap().len, 5);
            assert_eq!(read(&at("raw/users/dt=2026-01-01/a.csv")).unwrap(), b"id\n1\n");

            let mut file = open(&at("raw/users/dt=2026-01-01/a.csv")).unwrap();
            let mut text = String::new();
            file.read_to_string(&mut text).unwrap();
            assert_eq!(text, "id\n1\n");
            let chunk = parquet::file::reader::ChunkReader::get_bytes(&file, 3, 2).unwrap();
            assert_eq!(&chunk[..], b"1\n");

            delete_tree(&at("raw/users/dt=2026-01-01")).unwrap();
            delete(&at("raw/users/_SUCCESS")).unwrap();
            delete(&at("raw/users/_SUCCESS")).unwrap();
            let left: Vec<PathBuf> = walk(&root).unwrap().into_iter().map(|(p, _)| p).collect();
            assert_eq!(left, [at("raw/users/dt=2026-01-02/b.csv")], "{root:?}");
            assert_eq!(meta(&at("raw/users/_SUCCESS")).unwrap_err().kind(), io::ErrorKind::NotFound);
        }
    }

    #[test]
    fn a_remote_file_reads_the_same_bytes_in_order_by_ranges_and_when_empty() {
        let root = memory_bucket("files-ranges");
        let bytes: Vec<u8> = (0..(3 * FIRST_CHUNK as usize + 17)).map(|i| (i * 7 % 251) as u8).collect();
        write_atomic(&root.join("big"), &bytes).unwrap();
        write_atomic(&root.join("empty"), b"").unwrap();
        let mut file = open(&root.join("big")).unwrap();
        assert_eq!(file.len(), bytes.len() as u64);
        let mut all = Vec::new();
        file.read_to_end(&mut all).unwrap();
        assert!(all == bytes, "a sequential read differs");
        use parquet::file::reader::ChunkReader;
        for (start, length) in [(0, 10), (FIRST_CHUNK - 3, 9), (bytes.len() as u64 - 8, 8), (bytes.len() as u64 - FIRST_CHUNK - 1, 5)] {
            let got = file.get_bytes(start, length).unwrap();
            assert_eq!(&got[..], &bytes[start as usize..start as usize + length], "{start}+{length}");
        }
        let mut from_tail = Vec::new();
        file.get_read(bytes.len() as u64 - 100).unwrap().read_to_end(&mut from_tail).unwrap();
        assert_eq!(from_tail, bytes[bytes.len() - 100..]);
        let mut empty = open(&root.join("empty")).unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.read(&mut [0u8; 4]).unwrap(), 0);
        assert_eq!(open(&root.join("missing")).unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_directory_uploads_the_same_files_to_a_store_or_a_directory() {
        let from = tempfile::tempdir().unwrap();
        write_atomic(&from.path().join("users/a.csv"), b"id\n1\n").unwrap();
        write_atomic(&from.path().join("logs/dt=2026-01-01/b.csv"), b"id\n2\n").unwrap();
        let local = tempfile::tempdir().unwrap();
        for to in [local.path().join("raw"), memory_bucket("files-upload").join("raw")] {
            upload_dir(from.path(), &to).unwrap();
            let copied: Vec<(PathBuf, Vec<u8>)> = walk(&to).unwrap().into_iter().map(|(p, _)| (p.clone(), read(&p).unwrap())).collect();
            assert_eq!(
                copied,
                [(to.join("logs/dt=2026-01-01/b.csv"), b"id\n2\n".to_vec()), (to.join("users/a.csv"), b"id\n1\n".to_vec())],
                "{to:?}"
            );
        }
    }

    #[test]
    fn a_published_directory_appears_whole() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join(".tmp-run");
        write_atomic(&staging.join("a/b.parquet"), b"x").unwrap();
        write_atomic(&staging.join("report.json"), b"x").unwrap();
        let target = dir.path().join("run");
        publish(&staging, &target).unwrap();
        assert!(target.join("a/b.parquet").is_file() && target.join("report.json").is_file());
        assert!(!staging.exists());
    }

    #[test]
    fn atomic_write_replaces_whole_file_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/inventory.json");
        write_atomic(&target, b"first").unwrap();
        write_atomic(&target, b"second").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"second");
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&target).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o644);
        let names: Vec<_> = std::fs::read_dir(target.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}
