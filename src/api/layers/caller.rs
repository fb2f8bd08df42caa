//! Who is calling: the client address (socket, or `X-Forwarded-For` from a trusted
//! proxy), the verified user (set by the auth layer), the bearer token and the cart
//! token. Rate limits and idempotency scopes are keyed by these.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};

pub use crate::config::IpNet;

/// The authenticated-user extractor lives with the bearer-token code.
pub use super::bearer::Caller;

/// The verified caller, as set in request extensions by the authentication layer once a
/// JWT is verified (`request.extensions_mut().insert(CallerScope(user_id))`). It must
/// run before the rate-limit and idempotency layers (see `api::with_layers`). Until
/// then, callers with a bearer token are identified by a hash of the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerScope(pub String);

/// The client's address, resolved once per request by [`context`](super::groups::context).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The socket peer; when it is a trusted proxy, the right-most `X-Forwarded-For` hop
/// that is not itself a trusted proxy (hops to the left of it are client-controlled).
pub fn client_addr(request: &Request, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical())?;
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip.to_canonical();
                if !is_trusted(client) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    Some(client)
}

/// `user:<id>` for a verified caller, else `bearer:<sha256 of the token>` (the token
/// itself must never be stored or used as a Redis key).
pub fn user_key(extensions: &axum::http::Extensions, headers: &HeaderMap) -> Option<String> {
    if let Some(CallerScope(id)) = extensions.get::<CallerScope>() {
        return Some(format!("user:{id}"));
    }
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?
        .trim();
    (!token.is_empty()).then(|| format!("bearer:{}", &sha256_hex(token.as_bytes())[..32]))
}

/// The cart token of `/api/v1/cart/{token}/...` or `/api-proxy/api/cart/{token}/...`.
pub fn cart_token_in_path(path: &str) -> Option<&str> {
    let rest = path
        .strip_prefix("/api/v1/cart/")
        .or_else(|| path.strip_prefix("/api-proxy/api/cart/"))?;
    let token = rest.split('/').next()?;
    (!token.is_empty() && token != "estimate").then_some(token)
}

/// A top-level `cart_token` string in a JSON body (`POST /cart/estimate`).
pub fn cart_token_in_body(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Probe {
        cart_token: Option<String>,
    }
    if !body.windows(10).any(|w| w == b"cart_token") {
        return None;
    }
    serde_json::from_slice::<Probe>(body).ok()?.cart_token
}

/// A short, key-safe form of a cart token (tokens are secrets; hash them for keys).
pub fn cart_key(token: &str) -> String {
    format!("cart:{}", &sha256_hex(token.as_bytes())[..32])
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::body::Body;

    fn request(peer: &str, xff: Option<&str>) -> Request {
        let mut r = Request::builder().uri("/x");
        if let Some(x) = xff {
            r = r.header("x-forwarded-for", x);
        }
        let mut r = r.body(Body::empty()).unwrap();
        r.extensions_mut()
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        r
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted = [IpNet::parse("10.0.0.0/8").unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // untrusted peer: header ignored
        assert_eq!(
            client_addr(&request("1.2.3.4:5", Some("9.9.9.9")), &trusted),
            Some(ip("1.2.3.4"))
        );
        // trusted peer: right-most untrusted hop, spoofed left part ignored
        assert_eq!(
            client_addr(
                &request("10.0.0.1:5", Some("6.6.6.6, 7.7.7.7, 10.0.0.9")),
                &trusted
            ),
            Some(ip("7.7.7.7"))
        );
        // trusted peer without header
        assert_eq!(
            client_addr(&request("10.0.0.1:5", None), &trusted),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn networks() {
        let n = IpNet::parse("192.168.0.0/16").unwrap();
        assert!(n.contains("192.168.3.4".parse().unwrap()));
        assert!(!n.contains("192.169.0.1".parse().unwrap()));
        assert!(
            IpNet::parse("::1")
                .unwrap()
                .contains("::1".parse().unwrap())
        );
        assert!(
            IpNet::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(IpNet::parse("10.0.0.0/33").is_none());
        assert!(IpNet::parse("nope").is_none());
    }

    #[test]
    fn cart_tokens() {
        assert_eq!(cart_token_in_path("/api/v1/cart/abc/items"), Some("abc"));
        assert_eq!(cart_token_in_path("/api-proxy/api/cart/abc"), Some("abc"));
        assert_eq!(cart_token_in_path("/api/v1/cart/estimate"), None);
        assert_eq!(cart_token_in_path("/api/v1/cart"), None);
        assert_eq!(
            cart_token_in_body(br#"{"cart_token":"t1","x":1}"#).as_deref(),
            Some("t1")
        );
        assert_eq!(cart_token_in_body(br#"{"x":1}"#), None);
    }

    #[test]
    fn user_key_prefers_verified_caller() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        let mut ext = axum::http::Extensions::new();
        let hashed = user_key(&ext, &headers).unwrap();
        assert!(hashed.starts_with("bearer:") && !hashed.contains("abc"));
        ext.insert(CallerScope("u1".into()));
        assert_eq!(user_key(&ext, &headers).as_deref(), Some("user:u1"));
    }
}
