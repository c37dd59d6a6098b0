//! opsengine's compiled core. The engines are pure Rust modules over byte
//! slices and Arrow arrays; `python` (feature `python`) is the thin PyO3
//! layer that exposes them as `opsengine._core`.

pub mod arrow_io;
pub mod hash;
pub mod header;
pub mod matcher;
pub mod metrics;
pub mod prom_text;
pub mod series_id;
pub mod templates;
pub mod thresholds;

#[cfg(feature = "python")]
mod python;
