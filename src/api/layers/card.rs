//! Card-data detection. We never accept card data (PCI DSS SAQ A: the gateway's hosted
//! checkout collects it), so a JSON body with a field that looks like a card number,
//! CVV or expiry is refused before any handler or log line sees it.

use serde_json::Value;

/// Key names (lower-cased, `_`/`-` removed) that only card data would use.
const CARD_KEYS: &[&str] = &[
    "cardnumber",
    "cardno",
    "ccnumber",
    "creditcard",
    "creditcardnumber",
    "pan",
    "cvv",
    "cvv2",
    "cvc",
    "cvc2",
    "cvn",
    "securitycode",
    "cardsecuritycode",
    "expiry",
    "expirydate",
    "expirationdate",
    "cardexpiry",
    "expmonth",
    "expyear",
    "expirymonth",
    "expiryyear",
];

/// The JSON path (keys and indexes only, never a value) of the first field that looks
/// like card data, if any.
pub fn find(value: &Value) -> Option<String> {
    walk(value, &mut String::from("$"))
}

fn walk(value: &Value, path: &mut String) -> Option<String> {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let len = path.len();
                path.push('.');
                path.push_str(key);
                if (is_card_key(key) && !is_empty(v)) || looks_like_pan(v) {
                    return Some(path.clone());
                }
                if let Some(found) = walk(v, path) {
                    return Some(found);
                }
                path.truncate(len);
            }
            None
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                if looks_like_pan(v) {
                    return Some(path.clone());
                }
                if let Some(found) = walk(v, path) {
                    return Some(found);
                }
                path.truncate(len);
            }
            None
        }
        _ => None,
    }
}

fn is_card_key(key: &str) -> bool {
    let norm: String = key
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    CARD_KEYS.contains(&norm.as_str())
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// 13-19 digits (spaces or dashes between groups allowed in strings), starting with a
/// digit card networks use (2-6, 8: so millisecond timestamps, which start with 1, do
/// not trip it), passing the Luhn check.
fn looks_like_pan(v: &Value) -> bool {
    let digits: String = match v {
        Value::String(s) => {
            if !s
                .chars()
                .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
            {
                return false;
            }
            s.chars().filter(char::is_ascii_digit).collect()
        }
        Value::Number(n) if n.is_u64() => n.to_string(),
        _ => return false,
    };
    (13..=19).contains(&digits.len())
        && matches!(digits.as_bytes()[0], b'2'..=b'6' | b'8')
        && luhn(&digits)
}

fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 { d2 - 9 } else { d2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_card_keys_and_numbers() {
        assert_eq!(
            find(&json!({"card_number": "x"})).as_deref(),
            Some("$.card_number")
        );
        assert_eq!(
            find(&json!({"a": {"CVV": "123"}})).as_deref(),
            Some("$.a.CVV")
        );
        assert_eq!(
            find(&json!({"exp-month": 12})).as_deref(),
            Some("$.exp-month")
        );
        assert_eq!(
            find(&json!({"note": "4111 1111 1111 1111"})).as_deref(),
            Some("$.note")
        );
        assert_eq!(
            find(&json!({"n": 4111111111111111u64})).as_deref(),
            Some("$.n")
        );
        assert_eq!(
            find(&json!({"l": [1, "5555555555554444"]})).as_deref(),
            Some("$.l[1]")
        );
    }

    #[test]
    fn leaves_ordinary_data_alone() {
        for v in [
            json!({"quantity": 2, "code": "SAVE10", "cvv": null}),
            json!({"phone": "+91 98765 43210", "pincode": "560001"}),
            json!({"at_ms": 1732665600000u64}), // a timestamp, leading 1
            json!({"n": "4111111111111112"}),   // fails Luhn
            json!({"id": "0190b4d2-7c1e-7000-8000-000000000000"}),
            json!({"amount": 4_999_900}),
        ] {
            assert_eq!(find(&v), None, "{v}");
        }
    }

    #[test]
    fn luhn_known_values() {
        assert!(luhn("4111111111111111"));
        assert!(luhn("378282246310005"));
        assert!(!luhn("4111111111111121"));
    }
}
