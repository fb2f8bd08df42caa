//! Password hashing with argon2id (the crate's defaults: m = 19 MiB, t = 2, p = 1,
//! OWASP's baseline), always on a blocking thread: one hash takes tens of
//! milliseconds of CPU and would stall every request sharing the async worker.
//!
//! Hashes run on a fixed set of threads, one per core, in arrival order. Unbounded, a
//! burst of sign-ups would start hundreds of hashes at once (tokio allows 512 blocking
//! threads): 19 MiB each, all slowed down together, the job workers and every other
//! request starved of CPU. On tokio's blocking pool, even capped, hashes land on ever
//! new threads whose malloc arenas keep their 19 MiB blocks, so memory grows with each
//! new thread. The same few
//! threads reuse the same memory.

use std::sync::{Arc, Mutex, OnceLock, mpsc};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use secrecy::{ExposeSecret, SecretString};

/// The PHC string (`$argon2id$v=19$...`) of `password` with a fresh 128-bit salt.
pub async fn hash(password: SecretString) -> anyhow::Result<String> {
    on_hashing_thread(move || hash_now(password.expose_secret())).await?
}

/// Runs `work` on the next free hashing thread, after every hash queued before it.
async fn on_hashing_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    let job: HashJob = Box::new(move || {
        let _ = done.send(work());
    });
    hashing_threads()
        .send(job)
        .map_err(|_| anyhow::anyhow!("the hashing threads are gone"))?;
    result
        .await
        .map_err(|_| anyhow::anyhow!("a hashing thread failed"))
}

type HashJob = Box<dyn FnOnce() + Send>;

/// The queue of the hashing threads, started on first use.
fn hashing_threads() -> &'static mpsc::Sender<HashJob> {
    static QUEUE: OnceLock<mpsc::Sender<HashJob>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (queue, jobs) = mpsc::channel::<HashJob>();
        let jobs = Arc::new(Mutex::new(jobs));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        for i in 0..threads {
            let jobs = jobs.clone();
            let started = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        let next = match jobs.lock() {
                            Ok(jobs) => jobs.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = next else { return };
                        // a panicking hash drops its reply (the caller gets an error);
                        // the thread lives on
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                });
            if let Err(e) = started {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        queue
    })
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
    .await?
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
    async fn hashes_share_one_thread_per_core() {
        let names =
            (0..12).map(|_| on_hashing_thread(|| std::thread::current().name().map(str::to_owned)));
        let names: std::collections::HashSet<_> = futures::future::join_all(names)
            .await
            .into_iter()
            .map(|n| n.unwrap().unwrap())
            .collect();
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        assert!(names.len() <= cores, "{names:?}");
        assert!(names.iter().all(|n| n.starts_with("argon2-")), "{names:?}");
    }

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
