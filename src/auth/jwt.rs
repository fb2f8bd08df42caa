//! Access tokens: HS256 JWTs we issue, and optionally RS256 JWTs of an external
//! identity provider. Only these two algorithms are ever accepted, each with its own
//! key, so `alg: none` and algorithm confusion (an HS256 token signed with the public
//! RSA key) are refused.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::AuthSettings;

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    /// The reason goes into the message (it tells a client developer what is wrong
    /// without helping a forger: the checks are public anyway).
    #[error("token invalid: {0}")]
    Invalid(&'static str),
}

/// Claims of the access tokens we issue.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    pub iat: u64,
    pub iss: String,
    pub aud: String,
    /// The session (refresh-token family) this token was issued for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
}

/// The claims we read from an external provider's token (`iss`, `aud`, `exp` are
/// checked by the validation; `aud` may be a list there).
#[derive(Debug, Deserialize)]
struct ExternalClaims {
    sub: String,
    iat: Option<u64>,
    email: Option<String>,
    email_verified: Option<bool>,
    name: Option<String>,
}

/// A verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    Local {
        user_id: Uuid,
        session_id: Option<Uuid>,
    },
    External(ExternalSubject),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalSubject {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

struct External {
    key: DecodingKey,
    validation: Validation,
    issuer: String,
}

pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    external: Option<External>,
    issuer: String,
    audience: String,
    access_ttl_secs: u64,
    leeway_secs: u64,
}

fn validation(alg: Algorithm, issuer: &str, audience: &str, leeway: u64) -> Validation {
    let mut v = Validation::new(alg);
    v.algorithms = vec![alg];
    v.leeway = leeway;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
    v
}

impl Keys {
    pub fn new(secret: &[u8], settings: &AuthSettings) -> anyhow::Result<Self> {
        anyhow::ensure!(
            secret.len() >= crate::config::MIN_JWT_SECRET_BYTES,
            "auth.jwt_secret must be at least 32 bytes"
        );
        let external = match (
            &settings.external_public_key_pem,
            &settings.external_issuer,
            &settings.external_audience,
        ) {
            (Some(pem), Some(issuer), Some(audience)) => Some(External {
                key: DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
                    anyhow::anyhow!("auth.external_public_key_pem is not an RSA PEM key: {e}")
                })?,
                validation: validation(Algorithm::RS256, issuer, audience, settings.leeway_secs),
                issuer: issuer.clone(),
            }),
            _ => None,
        };
        Ok(Keys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation: validation(
                Algorithm::HS256,
                &settings.issuer,
                &settings.audience,
                settings.leeway_secs,
            ),
            external,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            access_ttl_secs: settings.access_ttl_secs,
            leeway_secs: settings.leeway_secs,
        })
    }

    /// A signed access token for `user_id` in `session_id`, and its lifetime (s).
    pub fn issue(&self, user_id: Uuid, session_id: Uuid) -> anyhow::Result<(String, u64)> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            exp: now + self.access_ttl_secs,
            iat: now,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sid: Some(session_id),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, self.access_ttl_secs))
    }

    /// Checks signature, algorithm, `exp`, `nbf`, `iat`, `iss`, `aud` and `sub`.
    pub fn verify(&self, token: &str) -> Result<Verified, TokenError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| TokenError::Invalid("malformed token or unsupported algorithm"))?;
        match header.alg {
            Algorithm::HS256 => self.verify_local(token),
            Algorithm::RS256 => match &self.external {
                Some(external) => self.verify_external(token, external),
                None => Err(TokenError::Invalid("unsupported algorithm")),
            },
            _ => Err(TokenError::Invalid("unsupported algorithm")),
        }
    }

    fn verify_local(&self, token: &str) -> Result<Verified, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(classify)?;
        self.check_iat(Some(data.claims.iat))?;
        let user_id = Uuid::parse_str(&data.claims.sub)
            .map_err(|_| TokenError::Invalid("subject is not a user id"))?;
        Ok(Verified::Local {
            user_id,
            session_id: data.claims.sid,
        })
    }

    fn verify_external(&self, token: &str, external: &External) -> Result<Verified, TokenError> {
        let data =
            jsonwebtoken::decode::<ExternalClaims>(token, &external.key, &external.validation)
                .map_err(classify)?;
        self.check_iat(data.claims.iat)?;
        let c = data.claims;
        if c.sub.is_empty() || c.sub.len() > 255 {
            return Err(TokenError::Invalid("bad subject"));
        }
        Ok(Verified::External(ExternalSubject {
            issuer: external.issuer.clone(),
            subject: c.sub,
            email: c.email,
            email_verified: c.email_verified.unwrap_or(false),
            name: c.name,
        }))
    }

    /// A token issued in the future (beyond the leeway) was not issued by a sane clock.
    fn check_iat(&self, iat: Option<u64>) -> Result<(), TokenError> {
        let now = jsonwebtoken::get_current_timestamp();
        match iat {
            Some(iat) if iat > now + self.leeway_secs => {
                Err(TokenError::Invalid("issued in the future"))
            }
            _ => Ok(()),
        }
    }
}

fn classify(error: jsonwebtoken::errors::Error) -> TokenError {
    match error.kind() {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::InvalidSignature => TokenError::Invalid("bad signature"),
        ErrorKind::InvalidAudience => TokenError::Invalid("wrong audience"),
        ErrorKind::InvalidIssuer => TokenError::Invalid("wrong issuer"),
        ErrorKind::ImmatureSignature => TokenError::Invalid("not valid yet"),
        ErrorKind::InvalidAlgorithm => TokenError::Invalid("unsupported algorithm"),
        ErrorKind::MissingRequiredClaim(_) => TokenError::Invalid("missing claim"),
        _ => TokenError::Invalid("malformed token"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn keys() -> Keys {
        Keys::new(SECRET, &AuthSettings::default()).unwrap()
    }

    fn sign(claims: &serde_json::Value, secret: &[u8]) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    fn claims(exp_offset: i64) -> serde_json::Value {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        serde_json::json!({
            "sub": Uuid::nil().to_string(), "iat": now, "exp": now + exp_offset,
            "iss": "checkout", "aud": "checkout-api"
        })
    }

    #[test]
    fn round_trip() {
        let k = keys();
        let sid = Uuid::new_v4();
        let (token, ttl) = k.issue(Uuid::nil(), sid).unwrap();
        assert_eq!(ttl, 900);
        assert_eq!(
            k.verify(&token).unwrap(),
            Verified::Local {
                user_id: Uuid::nil(),
                session_id: Some(sid)
            }
        );
    }

    #[test]
    fn refusals() {
        let k = keys();
        assert_eq!(
            k.verify(&sign(&claims(-60), SECRET)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            k.verify(&sign(&claims(60), b"another-secret-another-secret-xx")),
            Err(TokenError::Invalid("bad signature"))
        );
        let mut wrong_aud = claims(60);
        wrong_aud["aud"] = "someone-else".into();
        assert_eq!(
            k.verify(&sign(&wrong_aud, SECRET)),
            Err(TokenError::Invalid("wrong audience"))
        );
        let mut no_iss = claims(60);
        no_iss.as_object_mut().unwrap().remove("iss");
        assert!(k.verify(&sign(&no_iss, SECRET)).is_err());
        let mut future = claims(600);
        future["iat"] = (jsonwebtoken::get_current_timestamp() + 300).into();
        assert_eq!(
            k.verify(&sign(&future, SECRET)),
            Err(TokenError::Invalid("issued in the future"))
        );
        // alg: none, unsigned
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims(60).to_string());
        assert!(matches!(
            k.verify(&format!("{header}.{payload}.")),
            Err(TokenError::Invalid(_))
        ));
        // RS256 without an external provider configured
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        assert_eq!(
            k.verify(&format!("{header}.{payload}.c2ln")),
            Err(TokenError::Invalid("unsupported algorithm"))
        );
        assert!(k.verify("not a token").is_err());
    }

    #[test]
    fn short_secret_is_refused() {
        assert!(Keys::new(b"short", &AuthSettings::default()).is_err());
    }
}
