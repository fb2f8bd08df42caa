//! Amounts in words, as an invoice prints its total.
//!
//! Convention (one, kept everywhere): `"{Major} {words} and {words} {Minor} Only"`,
//! title case, tens and units joined by a hyphen ("Twenty-Three"), no "and" inside
//! a number; the "and {words} {Minor}" part only when the minor units are not
//! zero. The major name leads and stays plural ("Rupees One Only", "US Dollars
//! One Only"), the minor name follows its count and is singular for one ("One
//! Paisa", "One Cent"). Zero is "Rupees Zero Only". A negative amount is prefixed
//! with "Minus".
//!
//! INR uses Indian grouping: Thousand, Lakh (10^5), Crore (10^7); a count of
//! crores is itself spelt in Indian grouping, so 99,99,99,99,999 rupees is
//! "Ninety-Nine Thousand Nine Hundred Ninety-Nine Crore Ninety-Nine Lakh ...".
//! Every other currency uses international grouping (Thousand, Million, Billion,
//! Trillion, Quadrillion, Quintillion) and its English name; a currency without a
//! name on file shows its ISO code and "Minor Units".

use crate::domain::money::{Currency, Money};

const ONES: [&str; 20] = [
    "Zero",
    "One",
    "Two",
    "Three",
    "Four",
    "Five",
    "Six",
    "Seven",
    "Eight",
    "Nine",
    "Ten",
    "Eleven",
    "Twelve",
    "Thirteen",
    "Fourteen",
    "Fifteen",
    "Sixteen",
    "Seventeen",
    "Eighteen",
    "Nineteen",
];

const TENS: [&str; 10] = [
    "", "", "Twenty", "Thirty", "Forty", "Fifty", "Sixty", "Seventy", "Eighty", "Ninety",
];

/// Major name (plural), minor name singular and plural.
fn names(currency: Currency) -> (&'static str, &'static str, &'static str) {
    match currency.code() {
        "INR" => ("Rupees", "Paisa", "Paise"),
        "USD" => ("US Dollars", "Cent", "Cents"),
        "EUR" => ("Euros", "Cent", "Cents"),
        "GBP" => ("Pounds Sterling", "Penny", "Pence"),
        "SGD" => ("Singapore Dollars", "Cent", "Cents"),
        "AED" => ("UAE Dirhams", "Fils", "Fils"),
        "JPY" => ("Japanese Yen", "", ""),
        "KWD" => ("Kuwaiti Dinars", "Fils", "Fils"),
        "BHD" => ("Bahraini Dinars", "Fils", "Fils"),
        _ => ("", "Minor Unit", "Minor Units"),
    }
}

/// 0..=999 in words; empty for 0 (callers say "Zero" themselves).
fn below_thousand(n: u64, out: &mut Vec<String>) {
    let (hundreds, rest) = (n / 100, n % 100);
    if hundreds > 0 {
        out.push(format!("{} Hundred", ONES[hundreds as usize]));
    }
    if rest >= 20 {
        let (tens, ones) = (rest / 10, rest % 10);
        if ones == 0 {
            out.push(TENS[tens as usize].to_string());
        } else {
            out.push(format!("{}-{}", TENS[tens as usize], ONES[ones as usize]));
        }
    } else if rest > 0 {
        out.push(ONES[rest as usize].to_string());
    }
}

/// Indian grouping: crore, lakh, thousand, then below a thousand.
fn indian(n: u64, out: &mut Vec<String>) {
    let crore = n / 10_000_000;
    if crore > 0 {
        indian(crore, out);
        out.push("Crore".into());
    }
    let lakh = n % 10_000_000 / 100_000;
    if lakh > 0 {
        below_thousand(lakh, out);
        out.push("Lakh".into());
    }
    let thousand = n % 100_000 / 1_000;
    if thousand > 0 {
        below_thousand(thousand, out);
        out.push("Thousand".into());
    }
    below_thousand(n % 1_000, out);
}

/// International grouping: powers of a thousand.
fn international(n: u64, out: &mut Vec<String>) {
    const SCALES: [&str; 7] = [
        "",
        "Thousand",
        "Million",
        "Billion",
        "Trillion",
        "Quadrillion",
        "Quintillion",
    ];
    let mut groups = Vec::new();
    let mut rest = n;
    while rest > 0 {
        groups.push(rest % 1_000);
        rest /= 1_000;
    }
    for (scale, group) in groups.iter().enumerate().rev() {
        if *group > 0 {
            below_thousand(*group, out);
            if scale > 0 {
                out.push(SCALES[scale].to_string());
            }
        }
    }
}

fn number(n: u64, indian_grouping: bool) -> String {
    if n == 0 {
        return ONES[0].to_string();
    }
    let mut out = Vec::new();
    if indian_grouping {
        indian(n, &mut out);
    } else {
        international(n, &mut out);
    }
    out.join(" ")
}

/// The amount in words, e.g. `Money::inr(12_345_678)` ->
/// "Rupees One Lakh Twenty-Three Thousand Four Hundred Fifty-Six and
/// Seventy-Eight Paise Only".
pub fn amount_in_words(amount: Money) -> String {
    let currency = amount.currency;
    let indian_grouping = currency == Currency::INR;
    let scale = 10u64.pow(currency.exponent());
    let abs = amount.minor.unsigned_abs();
    let (major, minor) = (abs / scale, abs % scale);
    let (major_name, minor_one, minor_many) = names(currency);
    let major_name = if major_name.is_empty() {
        currency.code()
    } else {
        major_name
    };
    let mut text = String::new();
    if amount.minor < 0 {
        text.push_str("Minus ");
    }
    text.push_str(major_name);
    text.push(' ');
    text.push_str(&number(major, indian_grouping));
    if minor > 0 {
        let unit = if minor == 1 { minor_one } else { minor_many };
        text.push_str(" and ");
        text.push_str(&number(minor, indian_grouping));
        text.push(' ');
        text.push_str(unit);
    }
    text.push_str(" Only");
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use proptest::prelude::*;

    fn inr(paise: i64) -> String {
        amount_in_words(Money::inr(paise))
    }

    fn cur(code: &str, minor: i64) -> String {
        amount_in_words(Money::new(minor, Currency::parse(code).unwrap()))
    }

    #[test]
    fn rupees_in_indian_grouping() {
        let cases: &[(i64, &str)] = &[
            (0, "Rupees Zero Only"),
            (1, "Rupees Zero and One Paisa Only"),
            (50, "Rupees Zero and Fifty Paise Only"),
            (100, "Rupees One Only"),
            (1_100, "Rupees Eleven Only"),
            (2_000, "Rupees Twenty Only"),
            (2_101, "Rupees Twenty-One and One Paisa Only"),
            (10_000, "Rupees One Hundred Only"),
            (10_500, "Rupees One Hundred Five Only"),
            (99_900, "Rupees Nine Hundred Ninety-Nine Only"),
            (100_000, "Rupees One Thousand Only"),
            (1_000_100, "Rupees Ten Thousand One Only"),
            (
                1_179_882,
                "Rupees Eleven Thousand Seven Hundred Ninety-Eight and Eighty-Two Paise Only",
            ),
            (10_000_000, "Rupees One Lakh Only"),
            (
                12_345_678,
                "Rupees One Lakh Twenty-Three Thousand Four Hundred Fifty-Six and Seventy-Eight Paise Only",
            ),
            (250_000_000, "Rupees Twenty-Five Lakh Only"),
            (1_000_000_000, "Rupees One Crore Only"),
            (1_000_000_100, "Rupees One Crore One Only"),
            (
                1_234_567_890,
                "Rupees One Crore Twenty-Three Lakh Forty-Five Thousand Six Hundred Seventy-Eight and Ninety Paise Only",
            ),
            (10_100_000_000, "Rupees Ten Crore Ten Lakh Only"),
            (100_000_000_000_000, "Rupees One Lakh Crore Only"),
            (
                // 99,99,99,99,999.99 rupees
                9_999_999_999_999,
                "Rupees Nine Thousand Nine Hundred Ninety-Nine Crore Ninety-Nine Lakh Ninety-Nine Thousand Nine Hundred Ninety-Nine and Ninety-Nine Paise Only",
            ),
            (-150, "Minus Rupees One and Fifty Paise Only"),
        ];
        for (paise, words) in cases {
            assert_eq!(inr(*paise), *words, "{paise}");
        }
    }

    #[test]
    fn largest_amounts_do_not_overflow() {
        assert_eq!(
            inr(i64::MAX),
            "Rupees Nine Hundred Twenty-Two Crore Thirty-Three Lakh Seventy-Two Thousand Thirty-Six Crore Eighty-Five Lakh Forty-Seven Thousand Seven Hundred Fifty-Eight and Seven Paise Only"
        );
        assert!(inr(i64::MIN).starts_with("Minus Rupees Nine Hundred Twenty-Two Crore"));
        assert!(inr(i64::MIN).ends_with("and Eight Paise Only"));
    }

    #[test]
    fn other_currencies_in_international_grouping() {
        let cases: &[(&str, i64, &str)] = &[
            ("USD", 0, "US Dollars Zero Only"),
            ("USD", 1, "US Dollars Zero and One Cent Only"),
            (
                "USD",
                123_456,
                "US Dollars One Thousand Two Hundred Thirty-Four and Fifty-Six Cents Only",
            ),
            ("USD", 10_000_000, "US Dollars One Hundred Thousand Only"),
            (
                "USD",
                12_345_678_901,
                "US Dollars One Hundred Twenty-Three Million Four Hundred Fifty-Six Thousand Seven Hundred Eighty-Nine and One Cent Only",
            ),
            ("USD", 100_000_000_000, "US Dollars One Billion Only"),
            ("EUR", 1_999, "Euros Nineteen and Ninety-Nine Cents Only"),
            ("GBP", 101, "Pounds Sterling One and One Penny Only"),
            ("GBP", 1_050, "Pounds Sterling Ten and Fifty Pence Only"),
            (
                "SGD",
                2_000_000_100,
                "Singapore Dollars Twenty Million One Only",
            ),
            (
                "AED",
                7_025,
                "UAE Dirhams Seventy and Twenty-Five Fils Only",
            ),
            ("JPY", 1_000_001, "Japanese Yen One Million One Only"),
            ("JPY", 0, "Japanese Yen Zero Only"),
            (
                "KWD",
                12_345,
                "Kuwaiti Dinars Twelve and Three Hundred Forty-Five Fils Only",
            ),
            ("BHD", 1_001, "Bahraini Dinars One and One Fils Only"),
        ];
        for (code, minor, words) in cases {
            assert_eq!(cur(code, *minor), *words, "{code} {minor}");
        }
        assert_eq!(
            cur("USD", i64::MAX),
            "US Dollars Ninety-Two Quadrillion Two Hundred Thirty-Three Trillion Seven Hundred Twenty Billion Three Hundred Sixty-Eight Million Five Hundred Forty-Seven Thousand Seven Hundred Fifty-Eight and Seven Cents Only"
        );
    }

    #[test]
    fn every_supported_currency_has_a_name() {
        for c in Currency::all() {
            assert!(!names(c).0.is_empty(), "{c}");
            assert!(c.exponent() == 0 || !names(c).2.is_empty(), "{c}");
        }
    }

    /// Reads Indian-grouped words back to a number, to check the speller against
    /// arithmetic rather than against itself.
    fn parse_indian(words: &str) -> u64 {
        let mut total = 0u64;
        let mut group = 0u64;
        // One level of crore only: keep the amounts below 10^7 crore rupees.
        let mut stack: Vec<u64> = Vec::new();
        for word in words.split(' ') {
            match word {
                "Hundred" => group *= 100,
                "Thousand" => {
                    total += group * 1_000;
                    group = 0;
                }
                "Lakh" => {
                    total += group * 100_000;
                    group = 0;
                }
                "Crore" => {
                    stack.push((total + group) * 10_000_000);
                    total = 0;
                    group = 0;
                }
                w => {
                    for part in w.split('-') {
                        let v = ONES
                            .iter()
                            .position(|o| *o == part)
                            .map(|p| p as u64)
                            .or_else(|| {
                                TENS.iter()
                                    .position(|t| *t == part && !t.is_empty())
                                    .map(|p| p as u64 * 10)
                            });
                        group += v.unwrap();
                    }
                }
            }
        }
        stack.iter().sum::<u64>() + total + group
    }

    proptest! {
        #[test]
        fn rupee_words_read_back_to_the_amount(paise in 0i64..10_000_000_000_000_000) {
            let words = inr(paise);
            let body = words.strip_prefix("Rupees ").unwrap().strip_suffix(" Only").unwrap();
            let (rupees, minor) = match body.split_once(" and ") {
                Some((r, p)) => (r, p.rsplit_once(' ').unwrap().0),
                None => (body, "Zero"),
            };
            prop_assert_eq!(parse_indian(rupees), (paise / 100) as u64);
            prop_assert_eq!(parse_indian(minor), (paise % 100) as u64);
        }
    }
}
