//! The reference pages that users read instead of the code, held to the code:
//! `docs/errors.md` lists exactly the error codes of `domain::codes::ErrorCode`, and
//! `docs/configuration.md` exactly the keys of `config::Settings`.

use std::collections::BTreeSet;
use std::path::Path;

use checkout::config::Settings;
use checkout::domain::codes::ErrorCode;

fn doc(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The cells of every table row of `text` whose first cell is not the header's.
fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---") && !l.starts_with("| code |"))
        .filter(|l| !l.starts_with("| key |"))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn the_error_table_lists_every_code_and_no_other() {
    let documented: BTreeSet<(u32, String)> = rows(&doc("errors.md"))
        .into_iter()
        .map(|cells| {
            let code = cells[0]
                .parse()
                .unwrap_or_else(|_| panic!("errors.md: `{}` is not a code", cells[0]));
            (code, cells[1].clone())
        })
        .collect();
    let code: BTreeSet<(u32, String)> = ErrorCode::ALL
        .iter()
        .map(|c| (c.as_u32(), c.name().to_owned()))
        .collect();
    let missing: Vec<_> = code.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&code).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/errors.md differs from ErrorCode: missing {missing:?}, not in the code {extra:?}"
    );
}

/// Every leaf key of the settings, as dotted paths, read from the pretty `Debug` of the
/// defaults: a `name: Type {` line opens a section, any other `name: value` is a key
/// (a value spanning lines, a list or a map, is one key).
fn setting_keys(settings: &Settings) -> BTreeSet<String> {
    let text = format!("{settings:#?}");
    let mut keys = BTreeSet::new();
    let mut path: Vec<String> = Vec::new();
    let mut skip_until: Option<String> = None;
    for line in text.lines().skip(1) {
        let indent = line.len() - line.trim_start().len();
        let depth = indent / 4;
        if let Some(close) = &skip_until {
            if line.starts_with(close.as_str()) {
                skip_until = None;
            }
            continue;
        }
        let Some((name, value)) = line.trim().split_once(": ") else {
            continue;
        };
        path.truncate(depth - 1);
        let opens_struct = value.ends_with('{')
            && value.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && !value.starts_with("Some(");
        if opens_struct {
            path.push(name.to_owned());
            continue;
        }
        let mut key = path.clone();
        key.push(name.to_owned());
        keys.insert(key.join("."));
        if value.ends_with(['[', '(', '{']) {
            skip_until = Some(format!("{}{}", " ".repeat(indent), closing(value)));
        }
    }
    keys
}

fn closing(value: &str) -> char {
    match value.chars().last() {
        Some('[') => ']',
        Some('(') => ')',
        _ => '}',
    }
}

#[test]
fn the_configuration_reference_lists_every_key_and_no_other() {
    let documented: BTreeSet<String> = rows(&doc("configuration.md"))
        .into_iter()
        .filter_map(|cells| {
            let key = cells[0].strip_prefix('`')?.strip_suffix('`')?;
            Some(key.to_owned())
        })
        .collect();
    let code = setting_keys(&Settings::default());
    assert!(
        code.len() > 50,
        "read {} keys from the settings",
        code.len()
    );
    let missing: Vec<_> = code.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&code).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/configuration.md differs from config::Settings: missing {missing:?}, \
         not in the code {extra:?}"
    );
}
