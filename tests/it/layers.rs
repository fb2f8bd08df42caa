//! The layer rule of `src/lib.rs`: a module imports only from its own level or below, and
//! `store` and `gateways` (siblings) not from each other. Read from the `crate::` paths of
//! every source file; test code (`#[cfg(test)]` modules, inline or in their own files) is
//! exempt. A cycle between top-level modules of one level fails too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and its level, from the bottom.
const LEVELS: &[(&str, u8)] = &[
    ("domain", 0),
    ("config", 0),
    ("telemetry", 0),
    ("shutdown", 0),
    ("server", 0),
    ("store", 1),
    ("gateways", 1),
    ("documents", 1),
    ("workers", 2),
    ("carts", 2),
    ("auth", 2),
    ("health", 2),
    ("relay", 3),
    ("webhooks_out", 2),
    ("workflows", 3),
    ("api", 4),
    ("admin", 4),
    ("sandbox", 4),
    ("storefront", 4),
    ("loadtest", 4),
    ("cli", 5),
    ("roles", 5),
];

/// Pairs of one level that must not import each other.
const SIBLINGS: &[(&str, &str)] = &[("store", "gateways"), ("gateways", "store")];

fn level(module: &str) -> Option<u8> {
    LEVELS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// Every `.rs` file under `dir`, except the files of `#[cfg(test)]` modules.
fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let test_children: BTreeSet<String> = entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .flat_map(|p| test_module_names(&std::fs::read_to_string(p).unwrap()))
        .collect();
    for path in entries {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        if test_children.contains(&stem) {
            continue;
        }
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Names of `mod x;` declarations under `#[cfg(test)]` (other attributes may sit between).
fn test_module_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut pending = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with("#[cfg(test)]") {
            pending = true;
        } else if pending && line.starts_with("#[") {
            continue;
        } else if pending {
            let decl = line
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub ");
            if let Some(name) = decl.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
                names.push(name.trim().to_owned());
            }
            pending = false;
        }
    }
    names
}

/// The text without comments and without inline `#[cfg(test)]` items.
fn code_only(text: &str) -> String {
    let no_comments: String = text
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = String::new();
    let mut rest = no_comments.as_str();
    while let Some(start) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        // skip the item: up to its `;` or its matching closing brace
        let (mut depth, mut end) = (0usize, after.len());
        for (i, c) in after.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The top-level modules named by `crate::` paths, including grouped imports
/// (`use crate::{a::X, b}`).
fn imported_modules(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .unwrap_or(group.len());
            let mut depth = 0;
            let mut item = String::new();
            for c in group[..end].chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            found.insert(first_segment(&item));
        } else {
            found.insert(first_segment(after));
        }
        rest = after;
    }
    found.retain(|m| !m.is_empty());
    found
}

fn first_segment(path: &str) -> String {
    path.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

#[test]
fn lower_layers_never_import_higher_ones() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut violations = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if top == "lib" || top == "main" {
            continue;
        }
        let from = level(&top).unwrap_or_else(|| {
            panic!("src/{top} has no level: add it to LEVELS here and to the crate doc")
        });
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        for module in imported_modules(&code) {
            if module == top {
                continue;
            }
            let Some(to) = level(&module) else { continue };
            edges.entry(top.clone()).or_default().insert(module.clone());
            let sibling = SIBLINGS.contains(&(top.as_str(), module.as_str()));
            if to > from || sibling {
                violations.push(format!(
                    "{}: `{top}` (level {from}) imports `{module}` (level {to})",
                    rel.display()
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layer rule:\n{}",
        violations.join("\n")
    );
    // one level's modules may use each other, but not in a circle
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = edges[start].iter().collect();
        while let Some(m) = stack.pop() {
            assert!(
                m != start,
                "top-level modules import each other in a circle through `{start}`"
            );
            if seen.insert(m.clone()) {
                stack.extend(edges.get(m).into_iter().flatten());
            }
        }
    }
    assert!(files.len() > 100, "read {} files", files.len());
}

#[test]
fn the_reader_sees_grouped_imports_and_skips_test_code() {
    let code = code_only(
        "use crate::{api::X, store::{a, b}};\n// crate::roles in a comment\n\
         #[cfg(test)]\nmod tests {\n    use crate::cli::Y;\n}\nfn f() { crate::domain::z(); }",
    );
    let found: Vec<String> = imported_modules(&code).into_iter().collect();
    assert_eq!(found, ["api", "domain", "store"]);
    assert_eq!(
        test_module_names("#[cfg(test)]\n#[allow(clippy::unwrap_used)]\nmod tests;\nmod real;"),
        ["tests"]
    );
}
