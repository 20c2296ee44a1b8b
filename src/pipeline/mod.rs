//! Pipelines: the spec (`pipelines/*.toml`), resolving it per column against the inventory,
//! and running it onto DataFusion into the de-identified zone.

pub mod plan;
pub mod run;
pub mod spec;

pub use plan::{ColumnPlan, DatasetPlan, Step, resolve};
pub use run::{PartitionStatus, Planned, plan_pipeline, RunError, RunEvent, RunOptions, RunReport, describe_plan, run};
pub use spec::{PipelineSpec, SpecError};
