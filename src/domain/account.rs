//! Account rules: what a valid email, name, password and device id are.
//!
//! Parse, don't validate: [`Email::parse`] returns the normalised address (trimmed,
//! lower-case) that is stored, compared and rate-limited on, so `A@x.io` and `a@x.io`
//! are one account. Every refusal is a message that starts with the field name, ready
//! for the API's `validation_messages`.
//!
//! Password policy (checked at registration only; login accepts whatever was stored):
//! - 10 to 128 characters (the upper bound keeps argon2 work bounded);
//! - not all of one class (letters only, digits only, ...): at least two of lower-case,
//!   upper-case, digits, other;
//! - not one of a short list of the most common passwords, compared case-insensitively;
//! - not containing the email's local part (4+ characters), case-insensitively.

use std::fmt;

/// A syntactically plausible, normalised email address. Deliberately loose (one `@`,
/// a non-empty local part, a dotted domain, no spaces): the only real check is a mail
/// that arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        let refuse = |why: &str| Err(format!("email: {why}"));
        if email.is_empty() {
            return refuse("must not be empty");
        }
        if email.len() > 254 {
            return refuse("must be at most 254 characters");
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return refuse("must not contain spaces");
        }
        let Some((local, domain)) = email.split_once('@') else {
            return refuse("must be an address like name@example.com");
        };
        let domain_ok = domain.contains('.')
            && !domain.contains('@')
            && domain
                .split('.')
                .all(|label| !label.is_empty() && !label.starts_with('-'));
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return refuse("must be an address like name@example.com");
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A display name: trimmed, 1 to 100 characters, no control characters.
pub fn parse_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    let count = name.chars().count();
    if count == 0 {
        return Err("name: must not be empty".into());
    }
    if count > 100 {
        return Err("name: must be at most 100 characters".into());
    }
    if name.chars().any(char::is_control) {
        return Err("name: must not contain control characters".into());
    }
    Ok(name.to_owned())
}

/// An opaque client-chosen device identifier: 1 to 128 printable ASCII characters.
pub fn parse_device_id(raw: &str) -> Result<String, String> {
    let ok = (1..=128).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(raw.to_owned())
    } else {
        Err("device_id: must be 1 to 128 printable ASCII characters without spaces".into())
    }
}

pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// The most common passwords of 10+ characters (breach-list toppers); a cheap guard,
/// not a breach database.
const COMMON_PASSWORDS: &[&str] = &[
    "1234567890",
    "12345678910",
    "0123456789",
    "1q2w3e4r5t",
    "qwertyuiop",
    "1qaz2wsx3edc",
    "password12",
    "password123",
    "password1234",
    "passw0rd123",
    "iloveyou123",
    "qwerty12345",
    "qwerty123456",
    "abcdef123456",
    "abc1234567",
    "a123456789",
    "letmein123",
    "welcome123",
    "admin12345",
    "administrator",
    "changeme123",
    "football123",
    "princess123",
    "sunshine123",
    "internship1",
    "internship123",
];

/// Every way `password` breaks the policy (empty = acceptable).
pub fn password_problems(password: &str, email: Option<&Email>) -> Vec<String> {
    let mut problems = Vec::new();
    let count = password.chars().count();
    if count < MIN_PASSWORD_CHARS {
        problems.push(format!(
            "password: must be at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if count > MAX_PASSWORD_CHARS {
        problems.push(format!(
            "password: must be at most {MAX_PASSWORD_CHARS} characters"
        ));
    }
    let classes = [
        password.chars().any(char::is_lowercase),
        password.chars().any(char::is_uppercase),
        password.chars().any(|c| c.is_ascii_digit()),
        password
            .chars()
            .any(|c| !c.is_lowercase() && !c.is_uppercase() && !c.is_ascii_digit()),
    ];
    if count > 0 && classes.iter().filter(|x| **x).count() < 2 {
        problems.push(
            "password: must mix at least two of lower-case, upper-case, digits and symbols".into(),
        );
    }
    let lower = password.to_lowercase();
    if COMMON_PASSWORDS.contains(&lower.as_str()) {
        problems.push("password: is one of the most common passwords".into());
    }
    if let Some(email) = email {
        let local = email.local_part();
        if local.chars().count() >= 4 && lower.contains(local) {
            problems.push("password: must not contain the email address".into());
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn emails_are_normalised() {
        let e = Email::parse("  Asha.Rao@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "asha.rao@example.com");
        assert_eq!(e.local_part(), "asha.rao");
    }

    #[test]
    fn malformed_emails_name_the_field() {
        for bad in [
            "", "asha", "asha@", "@x.io", "a@b", "a b@x.io", "a@x..io", "a@@x.io", "a@-x.io",
        ] {
            let err = Email::parse(bad).unwrap_err();
            assert!(err.starts_with("email: "), "{bad}: {err}");
        }
    }

    #[test]
    fn password_policy() {
        let email = Email::parse("asha.rao@example.com").unwrap();
        let ok = |p: &str| password_problems(p, Some(&email)).is_empty();
        assert!(ok("correct horse battery"));
        assert!(ok("Tr0ub4dor&3x"));
        assert!(!ok("Short1!"));
        assert!(!ok("abcdefghijkl"), "one class only");
        assert!(!ok("123456789012"), "digits only");
        assert!(!ok("Password123"), "common, case-insensitively");
        assert!(!ok("my-Asha.Rao-pw"), "contains the local part");
        let problems = password_problems("aaaa", None);
        assert!(problems.iter().all(|p| p.starts_with("password: ")));
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn device_ids_and_names() {
        assert!(parse_device_id("ios-7F3A").is_ok());
        assert!(parse_device_id("").is_err());
        assert!(parse_device_id("has space").is_err());
        assert_eq!(parse_name("  Asha ").unwrap(), "Asha");
        assert!(parse_name("   ").unwrap_err().starts_with("name: "));
    }
}
