//! One file per resource, each with a `router()` of thin handlers: extract, authorize,
//! call the workflow or domain, reply in the envelope.

pub mod auth;
pub mod cart_auth;
pub mod carts;
pub mod catalog;
pub mod docs;
pub mod health;
pub mod invoices;
pub mod orders;
pub mod payments;
pub mod spec;
