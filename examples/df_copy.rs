//! Baseline for the end-to-end benchmark: a plain DataFusion Parquet → Parquet copy with the
//! same reader, writer settings and parallelism `piguard run` uses.
//!
//! Usage: df_copy INPUT.parquet OUTPUT.parquet

use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output] = args.as_slice() else {
        return Err("usage: df_copy INPUT.parquet OUTPUT.parquet".into());
    };
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread().build()?;
    runtime.block_on(async {
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(threads));
        let df = ctx.read_parquet(input.as_str(), ParquetReadOptions::default()).await?;
        df.write_parquet(output, DataFrameWriteOptions::new().with_single_file_output(true), None)
            .await?;
        Ok::<_, datafusion::error::DataFusionError>(())
    })?;
    Ok(())
}
