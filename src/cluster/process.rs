//! The cluster's processes and the client session, on Ballista.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista::prelude::SessionContextExt;
use ballista_core::extension::SessionConfigExt;
use ballista_core::utils::default_session_builder;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use super::ClusterError;
use super::codec::{Functions, LogicalCodec, PhysicalCodec};
use crate::lake;
use crate::transform::PseudonymKey;

/// A session whose queries run on the cluster at `host:port`: plans are sent with piguard's
/// codecs, and files are listed and footers read through the lake's stores.
pub async fn client(host: &str, port: u16, config: SessionConfig) -> Result<SessionContext, ClusterError> {
    let url = format!("df://{host}:{port}");
    let config = config
        .upgrade_for_ballista()
        .with_ballista_logical_extension_codec(Arc::new(LogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(PhysicalCodec::default()))
        .with_ballista_job_name("piguard run");
    let state = SessionStateBuilder::new().with_default_features().with_config(config).with_runtime_env(lake::runtime_env()).build();
    SessionContext::remote_with_state(&url, state)
        .await
        .map_err(|e| ClusterError::Client { url: format!("ballista://{host}:{port}"), message: e.to_string() })
}

/// Ballista's session, reading and writing the lake through its stores, and planning gated writes.
fn session_builder(config: SessionConfig) -> datafusion::common::Result<datafusion::execution::SessionState> {
    let state = default_session_builder(config)?;
    let planner = Arc::new(crate::gate::GatePlanner::default());
    Ok(SessionStateBuilder::new_from_existing(state).with_runtime_env(lake::runtime_env()).with_query_planner(planner).build())
}

/// Options of `piguard scheduler`.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Where it listens for clients and executors.
    pub bind: SocketAddr,
    /// Seconds without a heartbeat after which an executor is dead and its tasks run elsewhere.
    pub executor_timeout_seconds: u64,
}

/// Runs a scheduler until the process is stopped. It plans with piguard's functions but holds
/// no key: it can plan a pseudonymization, never compute one.
pub async fn scheduler(options: SchedulerOptions) -> Result<(), ClusterError> {
    let config = SchedulerConfig {
        bind_host: options.bind.ip().to_string(),
        bind_port: options.bind.port(),
        external_host: options.bind.ip().to_string(),
        executor_timeout_seconds: options.executor_timeout_seconds,
        expire_dead_executor_interval_seconds: options.executor_timeout_seconds.clamp(1, 15),
        no_executors_grace_period_seconds: options.executor_timeout_seconds,
        override_session_builder: Some(Arc::new(session_builder)),
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        ..SchedulerConfig::default()
    };
    let cluster = BallistaCluster::new_from_config(&config).await.map_err(|e| ClusterError::Process(e.to_string()))?;
    start_server(cluster, options.bind, Arc::new(config)).await.map_err(|e| ClusterError::Process(e.to_string()))
}

/// Options of `piguard executor`.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's host.
    pub scheduler_host: String,
    /// The scheduler's port.
    pub scheduler_port: u16,
    /// The host it binds and advertises.
    pub host: String,
    /// Its Arrow Flight port (shuffle data); its gRPC port is the next one.
    pub port: u16,
    /// Tasks it runs at once (0: one per core).
    pub concurrency: usize,
    /// Seconds between its heartbeats to the scheduler.
    pub heartbeat_seconds: u64,
    /// Where it keeps shuffle files (a temporary directory if none).
    pub work_dir: Option<String>,
}

/// Runs an executor with `key` until the process is stopped. It decodes every task with its
/// own key and refuses one planned with another.
pub async fn executor(options: ExecutorOptions, key: PseudonymKey) -> Result<(), ClusterError> {
    let functions = Functions::with_key(key);
    let config = ExecutorProcessConfig {
        bind_host: options.host.clone(),
        external_host: Some(options.host),
        port: options.port,
        grpc_port: options.port.checked_add(1).ok_or_else(|| ClusterError::Process("--port must be below 65535".into()))?,
        scheduler_host: options.scheduler_host,
        scheduler_port: options.scheduler_port,
        scheduler_connect_timeout_seconds: 30,
        vcores: options.concurrency,
        work_dir: options.work_dir,
        print_thread_info: false,
        executor_heartbeat_interval_seconds: options.heartbeat_seconds,
        override_runtime_producer: Some(Arc::new(|_: &SessionConfig| Ok(lake::runtime_env()))),
        override_logical_codec: Some(Arc::new(LogicalCodec::new(functions.clone()))),
        override_physical_codec: Some(Arc::new(PhysicalCodec::new(functions))),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config)).await.map_err(|e| ClusterError::Process(e.to_string()))
}
