//! Accounts and tokens over HTTP: register, login, refresh rotation and reuse
//! detection, logout, sessions, every refused token, external RS256 tokens, login
//! throttling, and no secrets in the logs.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Proc, TEST_JWT_SECRET, TestApp, TestDb};

pub const PASSWORD: &str = "Plum-Tree-42!";

/// A test app whose per-address `auth` rate limit (the hardening layer) is out of the
/// way, so these tests see the account logic and its own login throttle.
pub async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(configure: impl FnOnce(&mut checkout::config::Settings)) -> TestApp {
    TestApp::spawn_with(|s| {
        s.ratelimit.set_quota("auth", 10_000, 10_000);
        configure(s);
    })
    .await
}

pub async fn post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    let resp = app
        .client
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.json().await.unwrap())
}

pub async fn get_as(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    let resp = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.json().await.unwrap())
}

/// Registers `email` and returns the token response's `data`.
pub async fn register(app: &TestApp, email: &str) -> Value {
    let (status, body) = post(
        app,
        "/api/v1/auth/register",
        json!({"email": email, "name": "Asha Rao", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["data"].clone()
}

pub async fn login(app: &TestApp, email: &str, password: &str) -> (StatusCode, Value) {
    post(
        app,
        "/api/v1/auth/login",
        json!({"email": email, "password": password}),
    )
    .await
}

fn error_code(body: &Value) -> u64 {
    body["error"]["code"].as_u64().unwrap_or_default()
}

/// A token signed with the test secret, with `claims` merged over valid ones.
fn forge(claims: Value, secret: &[u8]) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let mut base = json!({
        "sub": Uuid::new_v4().to_string(), "iat": now, "exp": now + 600,
        "iss": "checkout", "aud": "checkout-api"
    });
    for (k, v) in claims.as_object().unwrap() {
        base[k] = v.clone();
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &base,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

async fn me_code(app: &TestApp, token: &str) -> (StatusCode, u64) {
    let (status, body) = get_as(app, "/api/v1/auth/me", token).await;
    (status, error_code(&body))
}

#[tokio::test]
async fn register_returns_tokens_and_stores_only_hashes() {
    let app = spawn().await;
    let data = register(&app, " Asha.Rao@Example.com ").await;
    assert_eq!(data["user"]["email"], "asha.rao@example.com");
    assert_eq!(data["token_type"], "Bearer");
    assert_eq!(data["expires_in"], 900);
    let refresh = data["refresh_token"].as_str().unwrap();
    assert!(refresh.starts_with("rt_") && refresh.len() >= 46);

    let (status, me) = get_as(
        &app,
        "/api/v1/auth/me",
        data["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["data"]["id"], data["user"]["id"]);

    let hash: String = sqlx::query_scalar("select password_hash from users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
    let stored: Vec<u8> = sqlx::query_scalar("select token_hash from refresh_tokens")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, checkout::auth::refresh::digest(refresh).to_vec());
}

#[tokio::test]
async fn duplicate_registration_is_409_case_insensitively() {
    let app = spawn().await;
    register(&app, "asha@example.com").await;
    let (status, body) = post(
        &app,
        "/api/v1/auth/register",
        json!({"email": "ASHA@Example.COM", "name": "Other", "password": "Another-Pass-77"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(error_code(&body), 5005);
    let users: i64 = sqlx::query_scalar("select count(*) from users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(users, 1);
}

#[tokio::test]
async fn weak_password_or_malformed_email_is_422_naming_the_field() {
    let app = spawn().await;
    let cases = [
        (
            "asha@example.com",
            "short1!",
            "password: must be at least 10",
        ),
        ("asha@example.com", "abcdefghijklmn", "password: must mix"),
        (
            "asha@example.com",
            "Password123",
            "password: is one of the most common",
        ),
        (
            "asha@example.com",
            "xx-ASHA-xx-99",
            "password: must not contain the email",
        ),
        ("not-an-email", PASSWORD, "email: "),
        ("asha@nodot", PASSWORD, "email: "),
    ];
    for (email, password, expected) in cases {
        let (status, body) = post(
            &app,
            "/api/v1/auth/register",
            json!({"email": email, "name": "Asha", "password": password}),
        )
        .await;
        assert_eq!(status, 422, "{email} {password}: {body}");
        assert_eq!(error_code(&body), 9002);
        let messages = body["error"]["validation_messages"].to_string();
        assert!(messages.contains(expected), "{expected} not in {messages}");
        assert!(
            !messages.contains(password),
            "the password was echoed: {messages}"
        );
    }
    let users: i64 = sqlx::query_scalar("select count(*) from users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(users, 0);
}

#[tokio::test]
async fn login_wrong_password_and_unknown_email_look_the_same() {
    let app = spawn().await;
    register(&app, "asha@example.com").await;
    let (status, body) = login(&app, "ASHA@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["access_token"].is_string());

    let (s1, wrong) = login(&app, "asha@example.com", "Wrong-Password-1").await;
    let (s2, unknown) = login(&app, "nobody@example.com", "Wrong-Password-1").await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(error_code(&wrong), 5004);
    assert_eq!(wrong["error"]["message"], unknown["error"]["message"]);
    assert_eq!(error_code(&unknown), 5004);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = spawn().await;
    let first = register(&app, "asha@example.com").await;
    let r1 = first["refresh_token"].as_str().unwrap();
    let (status, second) = post(&app, "/api/v1/auth/refresh", json!({"refresh_token": r1})).await;
    assert_eq!(status, 200, "{second}");
    let r2 = second["data"]["refresh_token"].as_str().unwrap();
    let a2 = second["data"]["access_token"].as_str().unwrap();
    assert_ne!(r1, r2);
    assert_eq!(second["data"]["session_id"], first["session_id"]);
    assert_eq!(me_code(&app, a2).await.0, 200);

    // r1 again: a replay. Refused, and the whole session dies with it.
    let (status, body) = post(&app, "/api/v1/auth/refresh", json!({"refresh_token": r1})).await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), 5006);
    let (status, body) = post(&app, "/api/v1/auth/refresh", json!({"refresh_token": r2})).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, 5006)
    );
    assert_eq!(me_code(&app, a2).await, (StatusCode::UNAUTHORIZED, 5003));
    let reason: String = sqlx::query_scalar("select revoked_reason from auth_sessions")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(reason, "reuse");

    let (status, body) = post(
        &app,
        "/api/v1/auth/refresh",
        json!({"refresh_token": "rt_made_up"}),
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, 5006)
    );
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_rotate_once() {
    let app = spawn().await;
    let first = register(&app, "asha@example.com").await;
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    let tries = (0..8).map(|_| post(&app, "/api/v1/auth/refresh", json!({"refresh_token": r1})));
    let results = futures::future::join_all(tries).await;
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(ok, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|(s, b)| *s == 200 || error_code(b) == 5006)
    );
}

#[tokio::test]
async fn logout_ends_the_session_and_is_idempotent() {
    let app = spawn().await;
    let data = register(&app, "asha@example.com").await;
    let refresh = data["refresh_token"].as_str().unwrap();
    let access = data["access_token"].as_str().unwrap();
    // the process now remembers the session as live; the logout must end that too
    assert_eq!(me_code(&app, access).await.0, 200);
    for _ in 0..2 {
        let (status, body) = post(
            &app,
            "/api/v1/auth/logout",
            json!({"refresh_token": refresh}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = post(
        &app,
        "/api/v1/auth/refresh",
        json!({"refresh_token": refresh}),
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, 5006)
    );
    assert_eq!(
        me_code(&app, access).await,
        (StatusCode::UNAUTHORIZED, 5003)
    );
}

#[tokio::test]
async fn sessions_are_listed_with_devices_and_revocable() {
    let app = spawn().await;
    register(&app, "asha@example.com").await;
    let mut tokens = Vec::new();
    for device in ["phone-1", "laptop-2"] {
        let (status, body) = post(
            &app,
            "/api/v1/auth/login",
            json!({"email": "asha@example.com", "password": PASSWORD, "device_id": device}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        tokens.push(body["data"].clone());
    }
    let phone = tokens[0]["access_token"].as_str().unwrap();
    let (status, list) = get_as(&app, "/api/v1/auth/sessions", phone).await;
    assert_eq!(status, 200, "{list}");
    let sessions = list["data"]["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3, "register + two logins: {list}");
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["device_id"], "phone-1");

    // the phone revokes the laptop (in use a moment before, so remembered as live)
    let laptop_access = tokens[1]["access_token"].as_str().unwrap();
    assert_eq!(me_code(&app, laptop_access).await.0, 200);
    let laptop_session = tokens[1]["session_id"].as_str().unwrap();
    let resp = app
        .client
        .delete(app.url(&format!("/api/v1/auth/sessions/{laptop_session}")))
        .bearer_auth(phone)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let laptop_refresh = tokens[1]["refresh_token"].as_str().unwrap();
    let (status, body) = post(
        &app,
        "/api/v1/auth/refresh",
        json!({"refresh_token": laptop_refresh}),
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, 5006)
    );
    assert_eq!(me_code(&app, laptop_access).await.0, 401);
    let (_, list) = get_as(&app, "/api/v1/auth/sessions", phone).await;
    assert_eq!(list["data"]["sessions"].as_array().unwrap().len(), 2);

    // someone else's session, or an unknown one: 404
    let other = register(&app, "ravi@example.com").await;
    let other_access = other["access_token"].as_str().unwrap();
    let own_phone_session = tokens[0]["session_id"].as_str().unwrap();
    for id in [own_phone_session.to_owned(), Uuid::new_v4().to_string()] {
        let resp = app
            .client
            .delete(app.url(&format!("/api/v1/auth/sessions/{id}")))
            .bearer_auth(other_access)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(error_code(&body), 5008);
    }
    assert_eq!(me_code(&app, phone).await.0, 200);
}

#[tokio::test]
async fn missing_or_garbage_token_is_401() {
    let app = spawn().await;
    let resp = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), 5001);
    assert_eq!(
        me_code(&app, "garbage").await,
        (StatusCode::UNAUTHORIZED, 5003)
    );
}

#[tokio::test]
async fn expired_token_is_5002() {
    let app = spawn().await;
    let data = register(&app, "asha@example.com").await;
    let now = jsonwebtoken::get_current_timestamp();
    let token = forge(
        json!({"sub": data["user"]["id"], "iat": now - 3600, "exp": now - 60}),
        TEST_JWT_SECRET.as_bytes(),
    );
    let resp = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), 5002);
}

#[tokio::test]
async fn alg_none_token_is_5003() {
    let app = spawn().await;
    let data = register(&app, "asha@example.com").await;
    let now = jsonwebtoken::get_current_timestamp();
    let claims = json!({"sub": data["user"]["id"], "iat": now, "exp": now + 600,
        "iss": "checkout", "aud": "checkout-api"});
    for alg in ["none", "None", "NONE"] {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            assert_eq!(
                me_code(&app, &token).await,
                (StatusCode::UNAUTHORIZED, 5003)
            );
        }
    }
}

#[tokio::test]
async fn token_signed_with_another_key_is_5003() {
    let app = spawn().await;
    let data = register(&app, "asha@example.com").await;
    let token = forge(
        json!({"sub": data["user"]["id"]}),
        b"another-secret-another-secret-another",
    );
    assert_eq!(
        me_code(&app, &token).await,
        (StatusCode::UNAUTHORIZED, 5003)
    );
    let genuine = forge(
        json!({"sub": data["user"]["id"]}),
        TEST_JWT_SECRET.as_bytes(),
    );
    assert_eq!(
        me_code(&app, &genuine).await.0,
        200,
        "control: the forge works"
    );
}

#[tokio::test]
async fn tampered_payload_is_5003() {
    let app = spawn().await;
    let asha = register(&app, "asha@example.com").await;
    let ravi = register(&app, "ravi@example.com").await;
    let token = asha["access_token"].as_str().unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = ravi["user"]["id"].clone();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    assert_eq!(
        me_code(&app, &tampered).await,
        (StatusCode::UNAUTHORIZED, 5003)
    );
    assert_eq!(me_code(&app, token).await.0, 200);
}

#[tokio::test]
async fn wrong_audience_or_issuer_is_5003() {
    let app = spawn().await;
    let data = register(&app, "asha@example.com").await;
    let sub = data["user"]["id"].clone();
    for claims in [
        json!({"sub": sub, "aud": "another-api"}),
        json!({"sub": sub, "iss": "someone-else"}),
    ] {
        let token = forge(claims, TEST_JWT_SECRET.as_bytes());
        let (status, body) = get_as(&app, "/api/v1/auth/me", &token).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::UNAUTHORIZED, 5003),
            "{body}"
        );
    }
}

#[tokio::test]
async fn token_of_a_deleted_user_is_5007() {
    let app = spawn().await;
    let data = register(&app, "asha@example.com").await;
    let access = data["access_token"].as_str().unwrap();
    let refresh = data["refresh_token"].as_str().unwrap();
    // an access token without a session claim, so only the user check can refuse it
    let sessionless = forge(
        json!({"sub": data["user"]["id"]}),
        TEST_JWT_SECRET.as_bytes(),
    );
    sqlx::query("update users set deleted_at = now()")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        me_code(&app, access).await,
        (StatusCode::UNAUTHORIZED, 5007)
    );
    assert_eq!(
        me_code(&app, &sessionless).await,
        (StatusCode::UNAUTHORIZED, 5007)
    );
    let (status, body) = post(
        &app,
        "/api/v1/auth/refresh",
        json!({"refresh_token": refresh}),
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, 5007)
    );
    // and the address is free again
    register(&app, "asha@example.com").await;
}

/// Polls `/auth/me` until it answers `want`; the answers seen, for the failure message.
async fn me_becomes(app: &TestApp, token: &str, want: (StatusCode, u64)) -> Vec<u16> {
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let got = me_code(app, token).await;
        seen.push(got.0.as_u16());
        if got == want {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never answered {want:?}: {seen:?}");
}

#[tokio::test]
async fn a_session_ended_by_another_process_is_refused_without_waiting_for_the_cache() {
    // a memory far longer than the 10 s this test waits: only the notification ends it
    let app = spawn_with(|s| s.auth.session_cache_ms = 60_000).await;
    let asha = register(&app, "asha@example.com").await;
    let ravi = register(&app, "ravi@example.com").await;
    let (a, r) = (
        asha["access_token"].as_str().unwrap(),
        ravi["access_token"].as_str().unwrap(),
    );
    assert_eq!(me_code(&app, a).await.0, 200);
    assert_eq!(me_code(&app, r).await.0, 200);

    // what `checkout admin` or another API process does, straight in the database
    sqlx::query(
        "update auth_sessions set revoked_at = now(), revoked_reason = 'revoked' where id = $1",
    )
    .bind(Uuid::parse_str(asha["session_id"].as_str().unwrap()).unwrap())
    .execute(&app.pool)
    .await
    .unwrap();
    me_becomes(&app, a, (StatusCode::UNAUTHORIZED, 5003)).await;
    sqlx::query("update users set deleted_at = now() where id = $1")
        .bind(Uuid::parse_str(ravi["user"]["id"].as_str().unwrap()).unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    me_becomes(&app, r, (StatusCode::UNAUTHORIZED, 5007)).await;
}

/// Revokes every session in the database without notifying anyone (triggers off for
/// the statement), as if the notification were lost.
/// Waits until the API's session-change listener is connected (its LISTEN is visible),
/// plus a moment for the forget-all that follows the connect.
async fn listening_for_session_changes(app: &TestApp) {
    crate::helpers::eventually(Duration::from_secs(10), || async {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
              where datname = current_database() and query ilike '%listen%checkout_session_changed%'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        (n > 0).then_some(())
    })
    .await
    .expect("the session-change listener connects");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

async fn revoke_silently(app: &TestApp) {
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("set local session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("update auth_sessions set revoked_at = now(), revoked_reason = 'revoked'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_remembered_session_serves_requests_for_at_most_the_cache_time() {
    let app = spawn_with(|s| s.auth.session_cache_ms = 3_000).await;
    let asha = register(&app, "asha@example.com").await;
    let a = asha["access_token"].as_str().unwrap();
    // The cache forgets everything when its listener (re)connects, since it may have
    // missed a change meanwhile: remember the session only after that first connect.
    listening_for_session_changes(&app).await;
    assert_eq!(me_code(&app, a).await.0, 200);
    let revoked = std::time::Instant::now();
    revoke_silently(&app).await;
    // served from memory: the database was not asked
    assert_eq!(me_code(&app, a).await.0, 200);
    me_becomes(&app, a, (StatusCode::UNAUTHORIZED, 5003)).await;
    assert!(revoked.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn without_the_cache_every_request_reads_the_session() {
    let app = spawn_with(|s| s.auth.session_cache_ms = 0).await;
    let asha = register(&app, "asha@example.com").await;
    let a = asha["access_token"].as_str().unwrap();
    assert_eq!(me_code(&app, a).await.0, 200);
    revoke_silently(&app).await;
    assert_eq!(me_code(&app, a).await, (StatusCode::UNAUTHORIZED, 5003));
}

fn idp_token(key_file: &str, claims: Value) -> String {
    let pem = std::fs::read(format!(
        "{}/tests/fixtures/{key_file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let now = jsonwebtoken::get_current_timestamp();
    let mut base =
        json!({"iss": "https://idp.example", "aud": "checkout", "iat": now, "exp": now + 300});
    for (k, v) in claims.as_object().unwrap() {
        base[k] = v.clone();
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &base,
        &EncodingKey::from_rsa_pem(&pem).unwrap(),
    )
    .unwrap()
}

async fn app_with_idp() -> TestApp {
    let pem = std::fs::read_to_string(format!(
        "{}/tests/fixtures/idp_test_public.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    spawn_with(move |s| {
        s.auth.external_public_key_pem = Some(pem);
        s.auth.external_issuer = Some("https://idp.example".into());
        s.auth.external_audience = Some("checkout".into());
    })
    .await
}

#[tokio::test]
async fn external_rs256_token_is_accepted_and_mapped_to_a_user() {
    let app = app_with_idp().await;
    let token = idp_token(
        "idp_test_private.pem",
        json!({"sub": "idp|123", "email": "Meera@Example.com", "name": "Meera"}),
    );
    let (status, me) = get_as(&app, "/api/v1/auth/me", &token).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["data"]["email"], "meera@example.com");
    assert_eq!(me["data"]["name"], "Meera");
    let (_, again) = get_as(&app, "/api/v1/auth/me", &token).await;
    assert_eq!(
        again["data"]["id"], me["data"]["id"],
        "same subject, same user"
    );
    let (issuer, subject): (String, String) =
        sqlx::query_as("select issuer, subject from external_identities")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (issuer.as_str(), subject.as_str()),
        ("https://idp.example", "idp|123")
    );

    // signed by another key, for another audience, or expired: refused
    let forged = idp_token("idp_other_private.pem", json!({"sub": "idp|123"}));
    assert_eq!(
        me_code(&app, &forged).await,
        (StatusCode::UNAUTHORIZED, 5003)
    );
    let wrong_aud = idp_token(
        "idp_test_private.pem",
        json!({"sub": "idp|123", "aud": "x"}),
    );
    assert_eq!(
        me_code(&app, &wrong_aud).await,
        (StatusCode::UNAUTHORIZED, 5003)
    );
    let now = jsonwebtoken::get_current_timestamp();
    let expired = idp_token(
        "idp_test_private.pem",
        json!({"sub": "idp|123", "iat": now - 900, "exp": now - 600}),
    );
    assert_eq!(
        me_code(&app, &expired).await,
        (StatusCode::UNAUTHORIZED, 5002)
    );
}

#[tokio::test]
async fn external_email_links_only_when_verified() {
    let app = app_with_idp().await;
    let local = register(&app, "asha@example.com").await;
    let unverified = idp_token(
        "idp_test_private.pem",
        json!({"sub": "idp|1", "email": "asha@example.com"}),
    );
    let (status, me) = get_as(&app, "/api/v1/auth/me", &unverified).await;
    assert_eq!(status, 200, "{me}");
    assert_ne!(
        me["data"]["id"], local["user"]["id"],
        "no takeover by an unverified claim"
    );
    assert!(me["data"]["email"].is_null());

    let verified = idp_token(
        "idp_test_private.pem",
        json!({"sub": "idp|2", "email": "ASHA@example.com", "email_verified": true}),
    );
    let (status, me) = get_as(&app, "/api/v1/auth/me", &verified).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["data"]["id"], local["user"]["id"]);
}

#[tokio::test]
async fn external_tokens_are_refused_when_no_provider_is_configured() {
    let app = spawn().await;
    let token = idp_token("idp_test_private.pem", json!({"sub": "idp|1"}));
    assert_eq!(
        me_code(&app, &token).await,
        (StatusCode::UNAUTHORIZED, 5003)
    );
}

/// Logs in with a wrong password `times` times from the test's own address; returns
/// (status, retry-after, body) of every attempt.
async fn hammer(app: &TestApp, email: &str, times: usize) -> Vec<(u16, Option<u64>, Value)> {
    hammer_from(app, email, None, times).await
}

/// [`hammer`] from `address` (sent as `X-Forwarded-For`; the app must trust the
/// loopback proxy).
async fn hammer_from(
    app: &TestApp,
    email: &str,
    address: Option<&str>,
    times: usize,
) -> Vec<(u16, Option<u64>, Value)> {
    let mut out = Vec::new();
    for _ in 0..times {
        let (status, retry, body) = login_from(app, email, "Wrong-Password-1", address).await;
        out.push((status.as_u16(), retry, body));
    }
    out
}

async fn login_from(
    app: &TestApp,
    email: &str,
    password: &str,
    address: Option<&str>,
) -> (StatusCode, Option<u64>, Value) {
    let mut req = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}));
    if let Some(a) = address {
        req = req.header("x-forwarded-for", a);
    }
    let resp = req.send().await.unwrap();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    (resp.status(), retry, resp.json().await.unwrap())
}

/// An app that believes `X-Forwarded-For` from the test client, so one test can speak
/// from many addresses.
async fn spawn_behind_proxy(configure: impl FnOnce(&mut checkout::config::Settings)) -> TestApp {
    spawn_with(|s| {
        s.ratelimit.trusted_proxies = vec!["127.0.0.1".into()];
        configure(s);
    })
    .await
}

#[tokio::test]
async fn failures_from_one_address_back_off_for_that_account_only() {
    let app = spawn_behind_proxy(|_| {}).await;
    register(&app, "asha@example.com").await;
    for email in ["asha@example.com", "nobody@example.com"] {
        let attempts = hammer_from(&app, email, Some("10.1.0.1"), 6).await;
        let statuses: Vec<u16> = attempts.iter().map(|a| a.0).collect();
        assert_eq!(statuses, [401, 401, 401, 401, 401, 429], "{email}");
        let (_, retry, body) = &attempts[5];
        assert_eq!(*retry, Some(1), "the first wait is a second");
        assert_eq!(error_code(body), 429);
        assert_eq!(body["error"]["message"], "rate limit exceeded");
        // from that address even the right password waits (the key is case-insensitive)
        let (status, _, _) =
            login_from(&app, &email.to_uppercase(), PASSWORD, Some("10.1.0.1")).await;
        assert_eq!(status, 429, "{email}");
    }
    // the wait doubles with each further failure once the previous wait is over
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let attempts = hammer_from(&app, "asha@example.com", Some("10.1.0.1"), 2).await;
    assert_eq!((attempts[0].0, attempts[1].0), (401, 429));
    assert_eq!(attempts[1].1, Some(2));
    // the owner from another address gets in at once
    let (status, _, body) = login_from(&app, "asha@example.com", PASSWORD, Some("10.2.0.1")).await;
    assert_eq!(status, 200, "{body}");
    // another account from the attacked address is not affected
    register(&app, "ravi@example.com").await;
    let (status, _, _) = login_from(&app, "ravi@example.com", PASSWORD, Some("10.1.0.1")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn twenty_failures_from_many_addresses_slow_the_account_but_never_lock_the_owner_out() {
    let app = spawn_behind_proxy(|_| {}).await;
    register(&app, "asha@example.com").await;
    for i in 0..20 {
        let address = format!("10.3.0.{i}");
        let attempts = hammer_from(&app, "asha@example.com", Some(&address), 1).await;
        assert_eq!(attempts[0].0, 401, "attempt {i}");
    }
    // the 21st wrong password, from yet another address, is slowed
    let started = std::time::Instant::now();
    let attempts = hammer_from(&app, "asha@example.com", Some("10.3.1.1"), 1).await;
    assert_eq!(attempts[0].0, 401);
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "not slowed: {:?}",
        started.elapsed()
    );
    // an attacker repeating from one address is refused once the doubling wait
    // outgrows the slow-down (which counts towards it)
    let attempts = hammer_from(&app, "asha@example.com", Some("10.3.2.1"), 9).await;
    let statuses: Vec<u16> = attempts.iter().map(|a| a.0).collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    // the owner, from a fresh client, still gets in, within the two-second cap
    let started = std::time::Instant::now();
    let (status, _, body) = login_from(&app, "asha@example.com", PASSWORD, Some("10.9.9.9")).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // and the owner's success does not lift the attacker's backoff
    let attacker: i64 =
        sqlx::query_scalar("select count(*) from login_attempts where address = '10.3.2.1'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(attacker >= 5, "{attacker}");
}

#[tokio::test]
async fn a_campus_address_with_many_failing_students_is_not_blocked() {
    let app = spawn().await;
    for i in 0..60 {
        let attempts = hammer(&app, &format!("user{i}@example.com"), 1).await;
        assert_eq!(attempts[0].0, 401, "student {i}");
    }
    register(&app, "asha@example.com").await;
    let (status, _) = login(&app, "asha@example.com", PASSWORD).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn success_forgets_that_addresss_failures() {
    let app = spawn_with(|s| s.auth.login_backoff_after = 3).await;
    register(&app, "asha@example.com").await;
    for _ in 0..3 {
        hammer(&app, "asha@example.com", 2).await;
        let (status, _) = login(&app, "asha@example.com", PASSWORD).await;
        assert_eq!(status, 200);
    }
    let rows: i64 = sqlx::query_scalar("select count(*) from login_attempts")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn passwords_and_tokens_never_appear_in_logs() {
    let db = TestDb::create().await;
    let serve = Proc::spawn_logged(
        &["serve", "--port", "0"],
        &db.url,
        &[
            ("CHECKOUT__LOG__LEVEL", "debug"),
            ("RUST_LOG", "debug"),
            ("CHECKOUT__RATELIMIT__AUTH_BURST", "1000"),
        ],
    );
    let base = format!("http://{}", serve.addr.unwrap());
    let client = reqwest::Client::new();
    let call = |path: &str, body: Value, bearer: Option<String>| {
        let mut req = client.post(format!("{base}{path}")).json(&body);
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let mut secrets = vec![PASSWORD.to_owned(), "Wrong-Password-1".to_owned()];
    let (status, reg) = call(
        "/api/v1/auth/register",
        json!({"email": "asha@example.com", "name": "Asha", "password": PASSWORD}),
        None,
    )
    .await;
    assert_eq!(status, 201, "{reg}");
    let (status, _) = call(
        "/api/v1/auth/login",
        json!({"email": "asha@example.com", "password": "Wrong-Password-1"}),
        None,
    )
    .await;
    assert_eq!(status, 401);
    let (status, log) = call(
        "/api/v1/auth/login",
        json!({"email": "asha@example.com", "password": PASSWORD}),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, refreshed) = call(
        "/api/v1/auth/refresh",
        json!({"refresh_token": log["data"]["refresh_token"]}),
        None,
    )
    .await;
    assert_eq!(status, 200);
    // a replay (logged as a warning) and a bad bearer (logged as rejected)
    let (status, _) = call(
        "/api/v1/auth/refresh",
        json!({"refresh_token": log["data"]["refresh_token"]}),
        None,
    )
    .await;
    assert_eq!(status, 401);
    let bad = format!("{}x", reg["data"]["access_token"].as_str().unwrap());
    let (status, _) = call(
        "/api/v1/auth/logout",
        json!({"refresh_token": reg["data"]["refresh_token"]}),
        Some(bad.clone()),
    )
    .await;
    assert_eq!(status, 200);
    let resp = client
        .get(format!("{base}/api/v1/auth/me"))
        .bearer_auth(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    for data in [&reg["data"], &log["data"], &refreshed["data"]] {
        for key in ["access_token", "refresh_token"] {
            secrets.push(data[key].as_str().unwrap().to_owned());
        }
    }
    secrets.push(bad);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = serve.log.as_ref().unwrap().lock().unwrap().clone();
    drop(serve);
    assert!(
        logs.contains("login failed") && logs.contains("refresh token reused"),
        "the capture works: {logs}"
    );
    for secret in &secrets {
        // JWT segments too: a logged header or payload alone is still a leak of the token
        let needles: Vec<&str> = if secret.matches('.').count() == 2 {
            secret.split('.').skip(1).collect()
        } else {
            vec![secret.as_str()]
        };
        for needle in needles {
            assert!(
                !logs.contains(needle),
                "a secret leaked into the logs: {needle}"
            );
        }
    }
}

#[tokio::test]
async fn serve_refuses_to_start_without_a_jwt_secret() {
    let db = TestDb::create().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_checkout"))
        .args(["serve", "--port", "0"])
        .env("DATABASE_URL", &db.url)
        .env_remove("CHECKOUT__AUTH__JWT_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("auth.jwt_secret"), "{err}");
}

#[tokio::test]
async fn idempotency_keys_are_scoped_by_user_not_by_token() {
    let app = spawn().await;
    let first = register(&app, "asha@example.com").await;
    let (_, second) = login(&app, "asha@example.com", PASSWORD).await;
    let other = register(&app, "ravi@example.com").await;
    let send = |bearer: String| {
        app.client
            .post(app.url("/api/v1/auth/logout"))
            .header("idempotency-key", "logout-1")
            .bearer_auth(bearer)
            .json(&json!({"refresh_token": "rt_unknown"}))
            .send()
    };
    let replayed = |r: &reqwest::Response| r.headers().contains_key("idempotent-replayed");
    let a = send(first["access_token"].as_str().unwrap().to_owned())
        .await
        .unwrap();
    assert_eq!(a.status(), 200);
    assert!(!replayed(&a));
    // the same user with another access token: the stored answer
    let b = send(second["data"]["access_token"].as_str().unwrap().to_owned())
        .await
        .unwrap();
    assert_eq!(b.status(), 200);
    assert!(replayed(&b), "same user, same key -> replay");
    // another user with the same key: their own request
    let c = send(other["access_token"].as_str().unwrap().to_owned())
        .await
        .unwrap();
    assert_eq!(c.status(), 200);
    assert!(!replayed(&c), "another user's key space");
}
