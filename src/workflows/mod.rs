//! Workflows: the checkout saga (steps, transitions, compensation), the tax documents
//! that follow it ([`documents`]) and the scheduler's cron jobs, which run only on the
//! advisory-lock [`leader`].

pub mod bench;
pub mod cart_pricing;
pub mod checkout;
pub mod cron;
pub mod deliveries;
pub mod documents;
pub mod error;
pub mod jobs;
pub mod keys;
pub mod leader;

pub use error::{FlowError, FlowResult};
