//! piguard: keeps an inventory of the personal information (PI) in a data lake,
//! de-identifies it before analysts or advertisers see it, and enforces how long it is kept.
//!
//! The binary is a thin layer over these modules; see `DESIGN.md` for the data flow. They
//! are listed in layers, lowest first; a module imports only from the layers before it:
//! vocabulary and kernels; the lake and its bookkeeping; classification of datasets, the
//! leak gate and the risk evaluation; the plan; the engine a cluster runs plans on; the commands (of which only `run` calls another, `export`, and
//! `purge` finishes erasures through `erase`).

pub mod category;
pub mod classify;
pub mod transform;
pub(crate) mod value_map;

pub mod audit;
pub mod lake;
pub mod ledger;
pub mod sealed;

pub mod gate;
pub mod inventory;
pub mod leak;
pub mod risk;

pub mod plan;

pub mod cluster;

pub mod effect;
pub mod erase;
pub mod export;
pub mod integrity;
pub mod purge;
pub mod query;
pub mod run;
pub mod sample_data;
pub mod verify;
