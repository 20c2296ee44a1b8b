//! Where a lake's objects are: a local directory, or a prefix of an S3-compatible bucket
//! (`s3://bucket/prefix`: AWS S3, Aliyun OSS, Tencent COS, MinIO), reached through the
//! `object_store` crate that DataFusion and delta-rs use, so every reader of the lake sees
//! the same store.

use std::path::Path;
use std::sync::Arc;

use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use url::Url;

/// Why a lake's store could not be reached. Names the location, never a credential.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{location}: {message}")]
    Location { location: String, message: String },
    #[error("{location}: {cause}")]
    Store { location: String, cause: object_store::Error },
}

/// A lake's store and the URL of the lake's root in it (ending in `/`).
#[derive(Clone)]
pub struct LakeStore {
    url: Url,
    /// The store's root is the bucket (or the file system's root), not the lake's.
    store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for LakeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeStore").field("url", &self.url.as_str()).finish()
    }
}

impl LakeStore {
    /// The lake at local directory `root`.
    pub fn local(root: &Path) -> Result<LakeStore, StoreError> {
        let location = || root.display().to_string();
        let abs = std::path::absolute(root).map_err(|e| StoreError::Location { location: location(), message: e.to_string() })?;
        let url = Url::from_directory_path(&abs).map_err(|()| StoreError::Location { location: location(), message: "not a directory path".into() })?;
        Ok(LakeStore { url, store: Arc::new(LocalFileSystem::new()) })
    }

    /// The lake at `s3://bucket/prefix`, with credentials, region and endpoint from the
    /// usual `AWS_*` variables (`AWS_ENDPOINT_URL` for an S3-compatible service,
    /// `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true` where it wants bucket-named hosts, as Aliyun
    /// OSS does, `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint).
    pub fn s3(url: &str) -> Result<LakeStore, StoreError> {
        let failed = |message: String| StoreError::Location { location: url.to_string(), message };
        let mut parsed = Url::parse(url).map_err(|e| failed(e.to_string()))?;
        if parsed.scheme() != "s3" || parsed.host_str().is_none_or(str::is_empty) {
            return Err(failed("expected s3://BUCKET/PREFIX".into()));
        }
        if !parsed.path().ends_with('/') {
            parsed.set_path(&format!("{}/", parsed.path()));
        }
        let bucket = parsed.host_str().unwrap_or_default();
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| failed(e.to_string()))?;
        Ok(LakeStore { url: parsed, store: Arc::new(store) })
    }

    /// The lake's root: `file:///…/` or `s3://bucket/prefix/`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Whether the lake is on the local file system.
    pub fn is_local(&self) -> bool {
        self.url.scheme() == "file"
    }

    /// The store, its root the bucket's (or the file system's): what delta-rs and DataFusion
    /// are handed.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// The URL of `rel` (`deid/users/`) under the lake's root.
    pub fn url_of(&self, rel: &str) -> Url {
        self.url.join(rel).unwrap_or_else(|_| self.url.clone())
    }

    /// Lets `ctx` read the lake's URLs.
    pub fn register(&self, ctx: &SessionContext) {
        if !self.is_local() {
            ctx.register_object_store(&self.url, self.store.clone());
        }
    }

    /// The names of the visible "directories" directly under `rel` (`deid/`), sorted; none
    /// when there is nothing there.
    pub async fn subdirs(&self, rel: &str) -> Result<Vec<String>, StoreError> {
        let url = self.url_of(rel);
        let prefix = ObjectPath::from_url_path(url.path()).map_err(|e| StoreError::Location { location: url.to_string(), message: e.to_string() })?;
        let listed = self.store.list_with_delimiter(Some(&prefix)).await;
        let listed = match listed {
            Ok(listed) => listed,
            Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(cause) => return Err(StoreError::Store { location: url.to_string(), cause }),
        };
        let mut names: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .filter(|n| !super::is_hidden(n))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Whether any object is under `rel`.
    pub async fn any_under(&self, rel: &str) -> Result<bool, StoreError> {
        let url = self.url_of(rel);
        let prefix = ObjectPath::from_url_path(url.path()).map_err(|e| StoreError::Location { location: url.to_string(), message: e.to_string() })?;
        match self.store.list(Some(&prefix)).try_next().await {
            Ok(found) => Ok(found.is_some()),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(cause) => Err(StoreError::Store { location: url.to_string(), cause }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_s3_lake_is_a_bucket_and_a_prefix() {
        let store = LakeStore::s3("s3://analytics/lakes/prod").unwrap();
        assert_eq!(store.url().as_str(), "s3://analytics/lakes/prod/");
        assert_eq!(store.url_of("deid/users/").as_str(), "s3://analytics/lakes/prod/deid/users/");
        assert!(!store.is_local());
        for bad in ["s3://", "s3:///prefix", "gs://bucket/x", "not a url"] {
            let e = LakeStore::s3(bad).unwrap_err().to_string();
            assert!(e.starts_with(bad), "the error names the location: {e}");
        }
        let local = LakeStore::local(Path::new("lake")).unwrap();
        assert!(local.is_local() && local.url().as_str().ends_with("/lake/"));
    }
}
