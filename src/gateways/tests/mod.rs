//! Client tests over real sockets against the sandbox.
