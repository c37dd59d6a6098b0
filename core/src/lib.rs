//! opsengine's compiled core. The engines are pure Rust modules over byte
//! slices and Arrow arrays; `bindings` (feature `python`) is the thin PyO3
//! layer that exposes them as `opsengine._core`.

pub mod arrow_io;
pub mod patterns;
pub mod prefilter;
pub mod syslog;
pub mod templates;

#[cfg(feature = "python")]
mod bindings;
