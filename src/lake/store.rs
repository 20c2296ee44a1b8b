//! Where a lake's objects are when it is not a local directory: a prefix of an S3-compatible
//! bucket (`s3://bucket/prefix`: AWS S3, Aliyun OSS, Tencent COS, MinIO), reached through the
//! `object_store` crate that DataFusion and delta-rs use, so every reader and writer of the
//! lake shares one client per bucket.
//!
//! A lake's paths stay `Path`s: a local path, or the object's URL (`s3://bucket/key`). The
//! stores are found by URL here, for piguard's own I/O ([`super::files`]), for DataFusion
//! (every session piguard makes resolves the lake's URLs through [`LakeStores`]) and for
//! delta-rs.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};

use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::client::SpawnedReqwestConnector;
use object_store::path::Path as ObjectPath;
use url::Url;

/// Why a lake's store could not be reached. Names the location, never a credential.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct StoreError {
    pub location: String,
    pub message: String,
}

/// The stores of buckets, by `scheme://bucket`: S3 buckets are built from `AWS_*` on first
/// use, others (tests' in-memory stores) are registered.
static STORES: LazyLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = LazyLock::new(Default::default);

/// Whether stores built from now on remember what this process reads of data files.
static REMEMBER_DATA_FILES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes the stores this process builds remember what it reads of the lake's data files
/// ([`super::cache`]): for a command, which runs once; never for a server, which outlives
/// the files it reads.
pub fn remember_data_files() {
    REMEMBER_DATA_FILES.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Whether this process remembers what it reads of data files, as a command does.
pub fn remembers_data_files() -> bool {
    REMEMBER_DATA_FILES.load(std::sync::atomic::Ordering::Relaxed)
}

fn bucket_key(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default())
}

/// Makes `store` the store of `url`'s bucket for this process (an in-memory store under
/// `memory://test/`, say).
pub fn register_store(url: &Url, store: Arc<dyn ObjectStore>) {
    STORES.lock().expect("no panic holds the registry").insert(bucket_key(url), store);
}

/// The store holding the objects of `url`, rooted at its bucket. An `s3://` bucket's is
/// built from the usual `AWS_*` variables (`AWS_ENDPOINT_URL` for an S3-compatible service,
/// `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true` where it wants bucket-named hosts, as Aliyun OSS
/// does, `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint).
pub fn store_for(url: &Url) -> Result<Arc<dyn ObjectStore>, StoreError> {
    let failed = |message: String| StoreError { location: url.to_string(), message };
    let key = bucket_key(url);
    let mut stores = STORES.lock().expect("no panic holds the registry");
    if let Some(store) = stores.get(&key) {
        return Ok(store.clone());
    }
    let bucket = url.host_str().filter(|b| !b.is_empty()).ok_or_else(|| failed("expected s3://BUCKET/PREFIX".into()))?;
    if url.scheme() != "s3" {
        return Err(failed("not a lake piguard can reach: expected a local directory or s3://BUCKET/PREFIX".into()));
    }
    // Every request runs on the I/O runtime, whoever makes it: a connection then never lives
    // on a runtime whose workers are blocked (a caller waiting in `block_on`) or gone.
    let connector = SpawnedReqwestConnector::new(IO_RUNTIME.handle().clone());
    let builder = AmazonS3Builder::from_env().with_bucket_name(bucket).with_http_connector(connector);
    let mut store: Arc<dyn ObjectStore> = Arc::new(builder.build().map_err(|e| failed(e.to_string()))?);
    if remembers_data_files() {
        store = Arc::new(super::cache::DataFileCache::new(store));
    }
    stores.insert(key, store.clone());
    Ok(store)
}

/// The URL `path` names (`s3://bucket/key`), when it names an object rather than a local file.
pub fn url_of(path: &Path) -> Option<&str> {
    let text = path.to_str()?;
    let (scheme, _) = text.split_once("://")?;
    (!scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-')).then_some(text)
}

/// Whether `path` is on the local file system.
pub fn is_local(path: &Path) -> bool {
    url_of(path).is_none()
}

/// An object: its store and its key there.
#[derive(Debug, Clone)]
pub struct Object {
    pub store: Arc<dyn ObjectStore>,
    pub location: ObjectPath,
}

/// The object `path` names, `None` for a local path. The key is the URL's path as written
/// (not percent-decoded), so that a key listed from the store names the same object again.
pub fn object_of(path: &Path) -> Result<Option<Object>, StoreError> {
    let Some(text) = url_of(path) else { return Ok(None) };
    let failed = |message: String| StoreError { location: text.to_string(), message };
    let url = Url::parse(text).map_err(|e| failed(e.to_string()))?;
    let store = store_for(&url)?;
    let after_scheme = &text[text.find("://").expect("a URL") + 3..];
    let key = after_scheme.split_once('/').map_or("", |(_, key)| key).trim_matches('/');
    let location = ObjectPath::parse(key).map_err(|e| failed(e.to_string()))?;
    Ok(Some(Object { store, location }))
}

/// The runtime every request to an object store runs on (and piguard's own object-store
/// calls, when their caller is not async): it lives as long as the process and nothing
/// blocks its workers, so the connections a store pools are always served.
static IO_RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()).max(2))
        .thread_name("piguard-io")
        .enable_all()
        .build()
        .expect("the I/O runtime starts")
});

/// Runs `future` on the I/O runtime and waits for it, from any thread. On a worker of a
/// multi-thread runtime (the I/O runtime's own included, where async code calls piguard's
/// blocking file functions) the worker's other tasks move to another thread meanwhile, so
/// waiting never starves the tasks it waits for.
pub fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let wait = move || {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        IO_RUNTIME.spawn(async move {
            let _ = sender.send(future.await);
        });
        receiver.recv().expect("the I/O runtime runs every task it is given to completion")
    };
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(wait),
        _ => wait(),
    }
}

/// Spawns `future` on the I/O runtime (a lease's heartbeat).
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    IO_RUNTIME.spawn(future)
}

/// The object stores DataFusion sessions use: the local file system, and every bucket
/// [`store_for`] reaches, so a session reads and writes the lake's URLs as piguard does.
#[derive(Debug, Default)]
pub struct LakeStores {
    local: DefaultObjectStoreRegistry,
}

impl ObjectStoreRegistry for LakeStores {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        if url.scheme() == "file" {
            return self.local.register_store(url, store);
        }
        let previous = STORES.lock().expect("no panic holds the registry").get(&bucket_key(url)).cloned();
        register_store(url, store);
        previous
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        if url.scheme() == "file" {
            return self.local.get_store(url);
        }
        store_for(url).map_err(|e| datafusion::error::DataFusionError::External(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_names_a_bucket_and_a_key_exactly_as_written() {
        let memory = Url::parse("memory://store-test/").unwrap();
        register_store(&memory, Arc::new(object_store::memory::InMemory::new()));
        let o = object_of(Path::new("memory://store-test/lakes/prod/raw/dt=2026-01-01/a%20b.parquet")).unwrap().unwrap();
        assert_eq!(o.location.as_ref(), "lakes/prod/raw/dt=2026-01-01/a%20b.parquet");
        assert!(object_of(Path::new("lake/raw/users")).unwrap().is_none());
        assert!(is_local(Path::new("./s3:/x")) && !is_local(Path::new("s3://bucket/x")));
        for bad in ["s3:///prefix", "gs://bucket/x"] {
            let e = object_of(Path::new(bad)).unwrap_err().to_string();
            assert!(e.starts_with(bad), "the error names the location: {e}");
        }
    }
}
