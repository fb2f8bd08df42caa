//! Carts: creation, items, coupons, discounts and estimates, on top of the store and
//! the pricing engine. The API handlers call one function here each.
//!
//! Rules kept in one place:
//! - Every cart is loaded through [`load_cart`]: unknown -> 1001; expired (by status
//!   or because `expires_at` passed, even before the cleanup cron flips it) -> 1002;
//!   converted -> readable, but a write -> 1003; merged into another cart -> 1001.
//!   Ownership: a guest cart (no `user_id`) opens with its token alone; a cart bound to
//!   a user opens only for that user's bearer token; anyone else gets 1001 (404, never
//!   403, so a token of someone else's cart reveals nothing). Checked before every other
//!   rule, so expiry and conversion do not leak either.
//! - Every write runs in one transaction holding the cart row `for update`, so
//!   concurrent writes to one cart serialise and none is lost; it ends in
//!   [`ops::finish_write`], which recomputes pricing from the catalog, sets the status
//!   (draft when empty, active with items), renews `expires_at` and bumps `version`.
//! - Adding a program + plan already in the cart raises that item's quantity (one row
//!   per program and plan).

pub mod auth;
pub mod discounts;
pub mod error;
pub mod input;
pub mod ops;
pub mod pricing;
pub mod view;

use chrono::Utc;
use sqlx::PgConnection;
use uuid::Uuid;

pub use error::CartError;

use crate::store::carts::{self, CartRow};

/// What the caller is about to do with the cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read: converted carts are fine.
    Read,
    /// Write: locks the row for the transaction; converted carts are refused.
    Write,
}

/// The one way to get a cart: looks it up by token (locking it for a write) and
/// applies the access rules in the module doc. `viewer` is the authenticated caller's
/// user id, if any.
pub async fn load_cart(
    conn: &mut PgConnection,
    token: &str,
    access: Access,
    viewer: Option<Uuid>,
) -> Result<CartRow, CartError> {
    let cart = carts::load(conn, token, access == Access::Write)
        .await?
        .ok_or(CartError::NotFound)?;
    if cart.user_id.is_some() && cart.user_id != viewer {
        return Err(CartError::NotFound);
    }
    if cart.status == "merged" {
        return Err(CartError::NotFound);
    }
    if cart.status == "converted" {
        return match access {
            Access::Read => Ok(cart),
            Access::Write => Err(CartError::Converted),
        };
    }
    if cart.status == "expired" || cart.expires_at <= Utc::now() {
        return Err(CartError::Expired);
    }
    Ok(cart)
}

/// A fresh cart token: 256 bits from the OS-seeded CSPRNG, base64url without padding
/// (43 characters). Never derived from time or ids, so tokens cannot be guessed from
/// one another.
pub fn new_token() -> String {
    random_token(32)
}

/// `bytes` random bytes from the OS-seeded CSPRNG, base64url without padding: the one
/// way bearer tokens (carts, orders, payments) are made.
pub fn random_token(bytes: usize) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_url_safe() {
        let a = new_token();
        let b = new_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }
}
