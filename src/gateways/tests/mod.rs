//! Client tests over real sockets: against the sandbox, and against a
//! request-capturing server where the exact request must be asserted.

mod exact_requests;
mod failover;
mod money;
mod razorpay;
mod stripe;
