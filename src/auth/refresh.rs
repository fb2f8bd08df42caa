//! Refresh tokens: 256 random bits, handed out once, stored only as a sha256 digest.
//! A plain hash (no salt, no argon2) is enough: the input is random, not a password,
//! and lookups must be by digest.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Prefix that makes the token recognisable to secret scanners and in support tickets.
const PREFIX: &str = "rt_";

/// A new token and its digest.
pub fn generate() -> (String, [u8; 32]) {
    let bytes: [u8; 32] = rand::random();
    let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = digest(&token);
    (token, hash)
}

/// The digest under which `token` is stored.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = generate();
        let (b, hb) = generate();
        assert_ne!(a, b);
        assert_ne!(ha, hb);
        assert!(a.starts_with("rt_") && a.len() == 3 + 43, "{a}");
        assert_eq!(digest(&a), ha);
    }
}
