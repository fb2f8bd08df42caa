//! Password hashing with argon2id (the crate's defaults: m = 19 MiB, t = 2, p = 1,
//! OWASP's baseline), always on a blocking thread: one hash takes tens of
//! milliseconds of CPU and would stall every request sharing the async worker.
//!
//! At most one hash per core runs at a time; the rest wait their turn in arrival order.
//! Unbounded, a burst of sign-ups started hundreds of hashes at once (tokio allows 512
//! blocking threads): 19 MiB each, all slowed down together, and the job workers and
//! every other request starved of CPU until the burst was through.

use std::sync::OnceLock;

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use secrecy::{ExposeSecret, SecretString};

/// The PHC string (`$argon2id$v=19$...`) of `password` with a fresh 128-bit salt.
pub async fn hash(password: SecretString) -> anyhow::Result<String> {
    on_hashing_thread(move || hash_now(password.expose_secret()))
        .await
        .context("hashing task failed")?
}

/// Runs `work` on a blocking thread once one of the per-core hashing permits is free.
async fn on_hashing_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    static PERMITS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    let permits = PERMITS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    });
    // never closed, so acquiring cannot fail; hash anyway rather than refuse
    let _permit = permits.acquire().await.ok();
    tokio::task::spawn_blocking(work).await
}

fn hash_now(password: &str) -> anyhow::Result<String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Ok(hash.to_string())
}

/// Whether `password` matches `stored`. Without a stored hash (unknown email, or an
/// account without a password) it verifies against a dummy hash and answers false, so
/// both cases cost the same time as a real check and reveal nothing.
pub async fn verify(password: SecretString, stored: Option<String>) -> anyhow::Result<bool> {
    on_hashing_thread(move || {
        let real = stored.is_some();
        let phc = match stored {
            Some(s) => s,
            None => dummy_hash()?.to_owned(),
        };
        let parsed = PasswordHash::new(&phc).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        let ok = Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok();
        Ok(real && ok)
    })
    .await
    .context("verifying task failed")?
}

fn dummy_hash() -> anyhow::Result<&'static str> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(h) = DUMMY.get() {
        return Ok(h);
    }
    let random: [u8; 16] = rand::random();
    let h = hash_now(&hex::encode(random))?;
    Ok(DUMMY.get_or_init(|| h))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash(SecretString::from("Correct-Horse-9")).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(
            verify(SecretString::from("Correct-Horse-9"), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify(SecretString::from("correct-horse-9"), Some(h))
                .await
                .unwrap()
        );
        assert!(!verify(SecretString::from("anything"), None).await.unwrap());
    }
}
