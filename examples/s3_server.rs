//! An S3-compatible server for benchmarks and trials: s3s-fs (the S3 protocol over a local
//! directory, as the tests run it in-process) on 127.0.0.1, as a process of its own. Each
//! subdirectory of ROOT is a bucket. It answers with Nagle's algorithm off, as the tests'
//! server does, so a response is not held back waiting for an acknowledgement.
//!
//! Usage: s3_server ROOT PORT ACCESS_KEY SECRET_KEY

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, root, port, access, secret] = args.as_slice() else {
        return Err("usage: s3_server ROOT PORT ACCESS_KEY SECRET_KEY".into());
    };
    let mut service =
        s3s::service::S3ServiceBuilder::new(s3s_fs::FileSystem::new(PathBuf::from(root)).map_err(|e| format!("{root}: {e:?}"))?);
    service.set_auth(s3s::auth::SimpleAuth::from_single(access.as_str(), secret.as_str()));
    let service = service.build();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>()?)).await?;
        loop {
            let (socket, _) = listener.accept().await?;
            socket.set_nodelay(true)?;
            let service = service.clone();
            tokio::spawn(async move {
                let http = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                let _ = http.serve_connection(hyper_util::rt::TokioIo::new(socket), service).await;
            });
        }
    })
}
