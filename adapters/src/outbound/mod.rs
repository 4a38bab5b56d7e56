//! Adapters that implement the application's driven ports.

pub mod builtin;
pub mod sandbox;
pub mod store;
