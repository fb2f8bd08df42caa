//! The metric names a PromQL expression reads, for holding alert rules and dashboard
//! panels to what the processes export (`dashboards.rs`). Not a parser: a lexer that
//! knows which identifiers are not metric names (functions and aggregations, being
//! followed by `(` or a grouping clause; keywords; literals; label names inside
//! braces and grouping lists; durations; Grafana's `$variables`).

use std::collections::BTreeSet;

/// Identifiers PromQL reserves: binary and grouping keywords, aggregation operators
/// (which may be followed by `by (...)` rather than `(`), literals.
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "atan2",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    "inf",
    "nan",
];

/// Keywords followed by a parenthesised list of label names.
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Skips a quoted string starting at `chars[i]` (its quote); returns the index after it.
fn skip_string(chars: &[char], mut i: usize) -> usize {
    let quote = chars[i];
    i += 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if quote != '`' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// Skips from an opening bracket to after its match, stepping over strings (a label
/// value may hold `}` or `)`).
fn skip_group(chars: &[char], mut i: usize, open: char, close: char) -> usize {
    let mut depth = 0;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => {
                i = skip_string(chars, i);
                continue;
            }
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

fn next_non_space(chars: &[char], mut i: usize) -> Option<(usize, char)> {
    while i < chars.len() {
        if !chars[i].is_whitespace() {
            return Some((i, chars[i]));
        }
        i += 1;
    }
    None
}

/// Every metric name `expr` selects, as written (a histogram's `_bucket` included).
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => i = skip_string(&chars, i),
            // label matchers and range or subquery durations
            '{' => i = skip_group(&chars, i, '{', '}'),
            '[' => i = skip_group(&chars, i, '[', ']'),
            // a comment runs to the end of the line
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            // Grafana variables: $name, ${name}, ${name:format}
            '$' => {
                i += 1;
                if chars.get(i) == Some(&'{') {
                    i = skip_group(&chars, i, '{', '}');
                } else {
                    while i < chars.len() && is_ident(chars[i]) {
                        i += 1;
                    }
                }
            }
            // numbers and durations (0.95, 1e3, 0x1f, 5m, 1h30m)
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if is_ident_start(c) => {
                let start = i;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let lower = word.to_ascii_lowercase();
                let next = next_non_space(&chars, i);
                if GROUPING.contains(&lower.as_str()) {
                    // by (label, ...): the list holds label names, not metrics
                    if let Some((j, '(')) = next {
                        i = skip_group(&chars, j, '(', ')');
                    }
                } else if KEYWORDS.contains(&lower.as_str()) {
                    // an operator or a literal
                } else if matches!(next, Some((_, '('))) {
                    // a function call
                } else {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::metric_names;

    fn names(expr: &str) -> Vec<String> {
        metric_names(expr).into_iter().collect()
    }

    #[test]
    fn aggregations_functions_and_grouping_labels_are_not_metrics() {
        assert_eq!(
            names("sum by (gateway, le) (rate(foo_bucket{route=~\"/api/.*\"}[5m]))"),
            ["foo_bucket"]
        );
        // the grouping clause after the aggregated expression
        assert_eq!(names("count(x) by (queue) > 0"), ["x"]);
        assert_eq!(names("max without (instance) (jobs_ready)"), ["jobs_ready"]);
        assert_eq!(
            names("histogram_quantile(0.95, sum(rate(h_bucket[5m:1m])) by (le))"),
            ["h_bucket"]
        );
        assert_eq!(names("topk(3, sum by (route) (rate(r[1h])))"), ["r"]);
        // a metric named like a label may still be a metric
        assert_eq!(names("sum(queue)"), ["queue"]);
    }

    #[test]
    fn vector_matching_keywords_and_their_labels_are_not_metrics() {
        assert_eq!(
            names("a / on (job, instance) group_left (state) b offset 5m"),
            ["a", "b"]
        );
        assert_eq!(
            names("a > bool ignoring(reason) group_right() b unless on() c or d and e"),
            ["a", "b", "c", "d", "e"]
        );
        assert_eq!(names("x atan2 y"), ["x", "y"]);
    }

    #[test]
    fn label_values_strings_numbers_and_durations_are_skipped() {
        // a brace or a paren inside a label value ends nothing
        assert_eq!(
            names(r#"m{route!="/api/v1/order/{order_token}", a="x)y\"}"} > 1e3"#),
            ["m"]
        );
        assert_eq!(
            names(r#"label_replace(up{job="a"}, "dst", "$1", "src", "(.*)")"#),
            ["up"]
        );
        assert_eq!(names("-0.5 * x + .5 + 0x1F + Inf - NaN"), ["x"]);
        assert_eq!(names("y[1h30m] @ 1700000000"), ["y"]);
        assert_eq!(names("vector(1) + time()"), Vec::<String>::new());
        assert_eq!(names("a # b is a comment\n + c"), ["a", "c"]);
    }

    #[test]
    fn recording_rule_names_and_grafana_variables() {
        assert_eq!(
            names("gateway:payments:rate30m < 0.95 and on (gateway) x:y * 1800 >= 20"),
            ["gateway:payments:rate30m", "x:y"]
        );
        assert_eq!(
            names("sum(increase(e_total{i=~\"$instance\"}[$__range])) / ${scale} * $__interval_ms"),
            ["e_total"]
        );
    }
}
