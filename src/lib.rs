//! piguard: keeps an inventory of the personal information (PI) in a data lake,
//! de-identifies it before analysts or advertisers see it, and enforces how long it is kept.
//!
//! The binary is a thin layer over these modules; see `DESIGN.md` for the data flow.

pub mod audit;
pub mod category;
pub mod classify;
pub mod export;
pub mod inventory;
pub mod lake;
pub mod pipeline;
pub mod query;
pub mod retention;
pub mod sample_data;
pub mod transform;
pub mod verify;
