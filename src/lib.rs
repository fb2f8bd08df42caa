//! checkout: the checkout and enrollment backend of an internship platform.

pub mod gateways;
pub mod sandbox;
