//! A command's reads of a lake's data files on an object store, remembered while it runs.
//!
//! One `run` reads each raw file several times: its size for the manifest, its footer to
//! check its columns, a sample to classify, its subject ids, and its rows to write. Each was
//! a request of its own (over twenty per file on S3). Data files are immutable once written
//! (piguard names every file it writes uniquely, and replaces rather than edits), so what a
//! command learned of one holds until the command itself writes or deletes it: sizes from
//! listings and heads; small files whole, on their first read; the tail of a large file,
//! where Parquet keeps its footer. Reads of a large file's row groups pass through.
//!
//! Only the command's own process remembers (a `piguard executor` does not: it lives across
//! runs, and a file replaced between two would be read from the old one), and only data
//! files: the Delta log, piguard's bookkeeping (`_piguard/`: the lease, the audit head) and
//! pointers like an export's `_latest` are read fresh every time.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    Attributes, CopyOptions, GetOptions, GetRange, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

/// Objects up to this size are fetched whole on their first read.
const WHOLE: u64 = 4 << 20;
/// Bytes fetched from the end of a larger object for a read near its end: a Parquet footer
/// and the length before it, in one request.
const TAIL: u64 = 512 << 10;
/// The most bytes remembered at once; the oldest are forgotten first.
const BUDGET: usize = 64 << 20;

/// Whether the object at `location` is a data file: a Parquet, CSV or JSON file outside the
/// Delta log, piguard's bookkeeping and temporaries.
fn is_data_file(location: &Path) -> bool {
    let mut parts = location.parts();
    let data = parts.all(|p| {
        let p = p.as_ref();
        p != "_delta_log" && p != "_piguard" && !p.starts_with(super::TMP_PREFIX)
    });
    data && super::FileFormat::of(std::path::Path::new(location.as_ref())).is_some()
}

/// Bytes `[start, size)` of an object.
struct Held {
    meta: ObjectMeta,
    start: u64,
    bytes: Bytes,
}

/// What the command has learned of data files.
#[derive(Default)]
struct Learned {
    metas: HashMap<Path, ObjectMeta>,
    held: HashMap<Path, Held>,
    /// Held objects, oldest first.
    order: VecDeque<Path>,
    held_bytes: usize,
}

impl Learned {
    /// Notes `meta`; bytes held of an older version of the object are forgotten.
    fn saw(&mut self, meta: &ObjectMeta) {
        if !is_data_file(&meta.location) {
            return;
        }
        let changed = self.held.get(&meta.location).is_some_and(|h| !same_version(&h.meta, meta));
        if changed {
            self.forget_bytes(&meta.location);
        }
        self.metas.insert(meta.location.clone(), meta.clone());
    }

    fn forget(&mut self, location: &Path) {
        self.metas.remove(location);
        self.forget_bytes(location);
    }

    fn forget_bytes(&mut self, location: &Path) {
        if let Some(h) = self.held.remove(location) {
            self.held_bytes -= h.bytes.len();
            self.order.retain(|l| l != location);
        }
    }

    /// Holds `held`'s bytes, when they are what it says: the object from `start` to its end.
    fn hold(&mut self, held: Held) {
        let location = held.meta.location.clone();
        self.forget_bytes(&location);
        if held.bytes.len() > BUDGET || held.start + held.bytes.len() as u64 != held.meta.size {
            return;
        }
        while self.held_bytes + held.bytes.len() > BUDGET {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some(h) = self.held.remove(&oldest) {
                self.held_bytes -= h.bytes.len();
            }
        }
        self.held_bytes += held.bytes.len();
        self.order.push_back(location.clone());
        self.held.insert(location, held);
    }

    /// Bytes `range` of the object at `location`, when held.
    fn bytes(&self, location: &Path, range: &Range<u64>) -> Option<(ObjectMeta, Bytes)> {
        let h = self.held.get(location)?;
        let covered = range.start >= h.start && range.end <= h.meta.size;
        covered.then(|| (h.meta.clone(), h.bytes.slice((range.start - h.start) as usize..(range.end - h.start) as usize)))
    }
}

fn same_version(a: &ObjectMeta, b: &ObjectMeta) -> bool {
    a.size == b.size && a.last_modified == b.last_modified && a.e_tag == b.e_tag
}

/// The absolute bytes `range` asks of an object of `size`; `None` when the store would refuse it.
fn absolute(range: Option<&GetRange>, size: u64) -> Option<Range<u64>> {
    let r = match range {
        None => 0..size,
        Some(GetRange::Bounded(r)) if r.start < r.end && r.start < size => r.start..r.end.min(size),
        Some(GetRange::Offset(o)) if *o < size => *o..size,
        Some(GetRange::Suffix(n)) if *n > 0 => size.saturating_sub(*n)..size,
        _ => return None,
    };
    (r.start < r.end).then_some(r)
}

/// Whether `options` asks only for bytes or a head: no condition, no older version.
fn plain(options: &GetOptions) -> bool {
    options.if_match.is_none()
        && options.if_none_match.is_none()
        && options.if_modified_since.is_none()
        && options.if_unmodified_since.is_none()
        && options.version.is_none()
}

fn answer(meta: ObjectMeta, range: Range<u64>, bytes: Bytes) -> GetResult {
    GetResult {
        payload: GetResultPayload::Stream(futures::stream::once(async move { Ok(bytes) }).boxed()),
        meta,
        range,
        attributes: Attributes::default(),
    }
}

/// An object store whose data files' sizes and small or final bytes are remembered, for
/// the command that reads them.
pub struct DataFileCache {
    inner: Arc<dyn ObjectStore>,
    learned: Arc<Mutex<Learned>>,
}

impl DataFileCache {
    /// Remembers what is read of `inner`'s data files.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        DataFileCache { inner, learned: Arc::default() }
    }

    fn learned(&self) -> std::sync::MutexGuard<'_, Learned> {
        self.learned.lock().expect("no panic holds the cache")
    }

    /// Bytes `range` of the object `meta` describes, fetching what is remembered of it when
    /// it is small or the range is near its end.
    async fn read(&self, meta: ObjectMeta, range: Range<u64>) -> Result<Option<GetResult>> {
        let location = meta.location.clone();
        if let Some((meta, bytes)) = self.learned().bytes(&location, &range) {
            return Ok(Some(answer(meta, range, bytes)));
        }
        let start = match meta.size {
            size if size <= WHOLE => 0,
            size if range.start >= size - TAIL => size - TAIL,
            _ => return Ok(None),
        };
        self.fetch(&location, GetRange::Bounded(start..meta.size)).await?;
        // Not held when the object changed meanwhile: then it is read as asked.
        Ok(self.learned().bytes(&location, &range).map(|(meta, bytes)| answer(meta, range, bytes)))
    }

    /// Fetches `range` of the object at `location`, a range to its end, and holds it; returns
    /// the object's size.
    async fn fetch(&self, location: &Path, range: GetRange) -> Result<u64> {
        let fetched = self.inner.get_opts(location, GetOptions::new().with_range(Some(range))).await?;
        let (meta, start) = (fetched.meta.clone(), fetched.range.start);
        let bytes = fetched.bytes().await?;
        let mut learned = self.learned();
        learned.saw(&meta);
        learned.hold(Held { meta: meta.clone(), start, bytes });
        Ok(meta.size)
    }
}

impl fmt::Display for DataFileCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (data files remembered)", self.inner)
    }
}

impl fmt::Debug for DataFileCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataFileCache").field("inner", &self.inner).finish_non_exhaustive()
    }
}

#[async_trait]
impl ObjectStore for DataFileCache {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.learned().forget(location);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.learned().forget(location);
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if !is_data_file(location) || !plain(&options) {
            return self.inner.get_opts(location, options).await;
        }
        let known = self.learned().metas.get(location).cloned();
        match known {
            Some(meta) if options.head => return Ok(answer(meta, 0..0, Bytes::new())),
            Some(meta) => {
                if let Some(range) = absolute(options.range.as_ref(), meta.size)
                    && let Some(got) = self.read(meta, range).await?
                {
                    return Ok(got);
                }
            }
            // A footer read of a file written since it was listed: its tail, which is the
            // whole of a small file, in the one request.
            None if matches!(options.range, Some(GetRange::Suffix(n)) if n <= TAIL) && !options.head => {
                let size = self.fetch(location, GetRange::Suffix(TAIL)).await?;
                if let Some(range) = absolute(options.range.as_ref(), size)
                    && let Some((meta, bytes)) = self.learned().bytes(location, &range)
                {
                    return Ok(answer(meta, range, bytes));
                }
            }
            None => {}
        }
        let head = options.head;
        let got = self.inner.get_opts(location, options).await?;
        self.learned().saw(&got.meta);
        if head || got.meta.size > WHOLE || got.range != (0..got.meta.size) {
            return Ok(got);
        }
        // A small file read whole: the next read of it needs no request.
        let (meta, range) = (got.meta.clone(), got.range.clone());
        let bytes = got.bytes().await?;
        self.learned().hold(Held { meta: meta.clone(), start: 0, bytes: bytes.clone() });
        Ok(answer(meta, range, bytes))
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        let learned = self.learned.clone();
        let forgotten = locations.inspect_ok(move |l| learned.lock().expect("no panic holds the cache").forget(l)).boxed();
        self.inner.delete_stream(forgotten)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let learned = self.learned.clone();
        self.inner.list(prefix).inspect_ok(move |m| learned.lock().expect("no panic holds the cache").saw(m)).boxed()
    }

    fn list_with_offset(&self, prefix: Option<&Path>, offset: &Path) -> BoxStream<'static, Result<ObjectMeta>> {
        let learned = self.learned.clone();
        self.inner.list_with_offset(prefix, offset).inspect_ok(move |m| learned.lock().expect("no panic holds the cache").saw(m)).boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let listed = self.inner.list_with_delimiter(prefix).await?;
        let mut learned = self.learned();
        for m in &listed.objects {
            learned.saw(m);
        }
        Ok(listed)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.learned().forget(to);
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        {
            let mut learned = self.learned();
            learned.forget(from);
            learned.forget(to);
        }
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A store that counts the reads that reach it.
    #[derive(Debug)]
    struct Counted {
        inner: InMemory,
        reads: AtomicUsize,
    }

    impl fmt::Display for Counted {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "counted")
        }
    }

    #[async_trait]
    impl ObjectStore for Counted {
        async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
            self.inner.put_opts(location, payload, opts).await
        }
        async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
            self.inner.put_multipart_opts(location, opts).await
        }
        async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.get_opts(location, options).await
        }
        fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
            self.inner.delete_stream(locations)
        }
        fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
            self.inner.list(prefix)
        }
        async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }
        async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
            self.inner.copy_opts(from, to, options).await
        }
    }

    fn stores() -> (Arc<Counted>, DataFileCache) {
        let counted = Arc::new(Counted { inner: InMemory::new(), reads: AtomicUsize::new(0) });
        (counted.clone(), DataFileCache::new(counted))
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().build().unwrap()
    }

    #[test]
    fn a_listed_small_data_file_is_read_once_whatever_is_asked_of_it() {
        runtime().block_on(async {
            let (counted, cache) = stores();
            let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
            let file = Path::from("raw/users/dt=2026-01-01/part-0.parquet");
            cache.put(&file, body.clone().into()).await.unwrap();
            let listed: Vec<ObjectMeta> = cache.list(Some(&Path::from("raw"))).try_collect().await.unwrap();
            assert_eq!(listed.len(), 1);
            assert_eq!(cache.head(&file).await.unwrap().size, 100_000);
            assert_eq!(counted.reads.load(Ordering::SeqCst), 0, "the size came from the listing");
            let ranges = [0..10, 99_992..100_000, 500..70_000, 0..100_000];
            for r in ranges.clone() {
                assert_eq!(cache.get_range(&file, r.clone()).await.unwrap(), body[r.start as usize..r.end as usize]);
            }
            let suffix = cache.get_opts(&file, GetOptions::new().with_range(Some(GetRange::Suffix(8)))).await.unwrap();
            assert_eq!(suffix.range, 99_992..100_000);
            assert_eq!(suffix.bytes().await.unwrap(), body[99_992..]);
            assert_eq!(cache.get(&file).await.unwrap().bytes().await.unwrap(), body);
            assert_eq!(counted.reads.load(Ordering::SeqCst), 1, "one read, the whole file");

            // Rewritten by the command itself: read again, as it is now.
            cache.put(&file, vec![7u8; 10].into()).await.unwrap();
            assert_eq!(cache.get(&file).await.unwrap().bytes().await.unwrap(), vec![7u8; 10]);
            assert_eq!(counted.reads.load(Ordering::SeqCst), 2);
            cache.delete(&file).await.unwrap();
            assert!(matches!(cache.head(&file).await, Err(object_store::Error::NotFound { .. })));
        });
    }

    #[test]
    fn a_large_file_keeps_its_tail_and_its_other_bytes_are_read_as_asked() {
        runtime().block_on(async {
            let (counted, cache) = stores();
            let size = WHOLE + TAIL * 2;
            let body: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
            let file = Path::from("raw/events/part-0.parquet");
            cache.put(&file, body.clone().into()).await.unwrap();
            let _: Vec<ObjectMeta> = cache.list(None).try_collect().await.unwrap();
            let footer = [size - 8..size, size - 40_000..size - 8, size - 8..size];
            for r in footer {
                assert_eq!(cache.get_range(&file, r.clone()).await.unwrap(), body[r.start as usize..r.end as usize]);
            }
            assert_eq!(counted.reads.load(Ordering::SeqCst), 1, "the footer and its length: one read of the tail");
            for _ in 0..2 {
                assert_eq!(cache.get_range(&file, 1000..2000).await.unwrap(), body[1000..2000]);
            }
            assert_eq!(counted.reads.load(Ordering::SeqCst), 3, "row groups are read as often as asked");
        });
    }

    #[test]
    fn bookkeeping_is_read_fresh_every_time() {
        runtime().block_on(async {
            let (counted, cache) = stores();
            for (key, data) in [
                ("lake/_piguard/writer.lock", false),
                ("lake/deid/users/_delta_log/00000000000000000001.json", false),
                ("lake/export/by_province/_latest", false),
                ("lake/deid/users/.tmp-part-1.parquet", false),
                ("lake/deid/users/part-1.parquet", true),
                ("lake/raw/logs/dt=2026-01-01/a.jsonl", true),
                ("lake/raw/users/users.CSV", true),
            ] {
                assert_eq!(is_data_file(&Path::from(key)), data, "{key}");
            }
            let lease = Path::from("lake/_piguard/writer.lock");
            cache.put(&lease, vec![1u8].into()).await.unwrap();
            let _: Vec<ObjectMeta> = cache.list(None).try_collect().await.unwrap();
            for _ in 0..2 {
                cache.head(&lease).await.unwrap();
                cache.get(&lease).await.unwrap();
            }
            assert_eq!(counted.reads.load(Ordering::SeqCst), 4);
        });
    }
}
