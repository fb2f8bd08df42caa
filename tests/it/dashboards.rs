//! The alert rules (deploy/prometheus) and the Grafana dashboard (deploy/grafana) held
//! to the code and the docs: every metric a rule or a panel queries is exported by a
//! running `checkout dev` after one checkout, every alert links to a heading of
//! docs/operations.md, and every alert has a promtool test that fires it and one that
//! does not (scripts/alert-rules runs those tests).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::helpers::{Proc, TestDb, eventually};
use crate::metrics::parse;
use crate::promql::metric_names;

#[derive(Deserialize)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Deserialize)]
struct RuleGroup {
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct Rule {
    record: Option<String>,
    alert: Option<String>,
    expr: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RuleTests {
    tests: Vec<RuleTest>,
}

#[derive(Deserialize)]
struct RuleTest {
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
}

#[derive(Deserialize)]
struct AlertTest {
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<serde_norway::Value>,
}

fn read(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rules() -> Vec<Rule> {
    let file: RuleFile = serde_norway::from_str(&read("deploy/prometheus/checkout.rules.yml"))
        .expect("checkout.rules.yml parses");
    file.groups.into_iter().flat_map(|g| g.rules).collect()
}

fn dashboard() -> Value {
    serde_json::from_str(&read("deploy/grafana/checkout.json")).expect("checkout.json parses")
}

/// Every panel (rows' nested panels included) with a type other than `row`.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(panels: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in panels.as_array().into_iter().flatten() {
            if panel["type"] != "row" {
                out.push(panel);
            }
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// `(where, expr)` of every rule and every panel target.
fn queries() -> Vec<(String, String)> {
    let mut queries: Vec<(String, String)> = rules()
        .into_iter()
        .map(|r| {
            let name = r.record.or(r.alert).unwrap_or_default();
            (format!("rule {name}"), r.expr)
        })
        .collect();
    let dashboard = dashboard();
    for panel in panels(&dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("every target has an expr");
            queries.push((format!("panel {}", panel["title"]), expr.to_owned()));
        }
    }
    queries
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn every_alert_has_a_severity_a_runbook_heading_and_tests_both_ways() {
    let operations = read("docs/operations.md");
    let mut in_code = false;
    let mut anchors = BTreeSet::new();
    for line in operations.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && let Some(heading) = line.strip_prefix('#') {
            anchors.insert(anchor(heading.trim_start_matches('#')));
        }
    }
    let tests: RuleTests =
        serde_norway::from_str(&read("deploy/prometheus/checkout.rules.test.yml"))
            .expect("checkout.rules.test.yml parses");
    let cases: Vec<&AlertTest> = tests
        .tests
        .iter()
        .flat_map(|t| &t.alert_rule_test)
        .collect();
    let alerts: Vec<Rule> = rules().into_iter().filter(|r| r.alert.is_some()).collect();
    assert!(alerts.len() >= 10, "{} alerts", alerts.len());
    for rule in &alerts {
        let name = rule.alert.as_deref().unwrap_or_default();
        let severity = rule.labels.get("severity").map(String::as_str);
        assert!(
            matches!(severity, Some("critical" | "warning")),
            "{name}: severity {severity:?}"
        );
        for key in ["summary", "description", "runbook_url"] {
            assert!(rule.annotations.contains_key(key), "{name}: no {key}");
        }
        let url = &rule.annotations["runbook_url"];
        let heading = url
            .strip_prefix("docs/operations.md#")
            .unwrap_or_else(|| panic!("{name}: runbook_url {url} is not docs/operations.md#..."));
        assert!(
            anchors.contains(heading),
            "{name}: docs/operations.md has no heading #{heading}"
        );
        let of_this = || cases.iter().filter(|c| c.alertname == name);
        assert!(
            of_this().any(|c| !c.exp_alerts.is_empty()),
            "{name}: no promtool test fires it"
        );
        // quiet throughout a test of its own (healthy series), not only before `for:`
        let quiet = tests.tests.iter().any(|t| {
            let mut of_this = t.alert_rule_test.iter().filter(|c| c.alertname == name);
            of_this.clone().next().is_some() && of_this.all(|c| c.exp_alerts.is_empty())
        });
        assert!(quiet, "{name}: no promtool test where it stays quiet");
    }
    // tests name only alerts that exist
    for case in &cases {
        assert!(
            alerts
                .iter()
                .any(|r| r.alert.as_deref() == Some(&case.alertname)),
            "a test names {}, which is no alert",
            case.alertname
        );
    }
}

#[test]
fn every_panel_queries_the_chosen_prometheus() {
    let dashboard = dashboard();
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(
        variables
            .iter()
            .any(|v| v["name"] == "datasource" && v["type"] == "datasource"),
        "no datasource variable"
    );
    let panels = panels(&dashboard);
    assert!(panels.len() >= 20, "{} panels", panels.len());
    for panel in panels {
        let title = &panel["title"];
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: no query");
        for target in targets {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{title}");
        }
    }
}

/// A name is checked as written: a histogram's `_bucket` must be exported as such (a
/// summary would not do for `histogram_quantile`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_a_rule_or_panel_queries_is_exported_by_dev_after_a_checkout() {
    let recorded: BTreeSet<String> = rules().into_iter().filter_map(|r| r.record).collect();
    let mut wanted: BTreeMap<String, String> = BTreeMap::new();
    for (place, expr) in queries() {
        for name in metric_names(&expr) {
            if !recorded.contains(&name) {
                wanted.entry(name).or_insert(place.clone());
            }
        }
    }
    // the extractor found the queries' metrics, not nothing
    for name in [
        "payments_succeeded_total",
        "http_request_duration_seconds_bucket",
    ] {
        assert!(wanted.contains_key(name), "{name} not found in {wanted:?}");
    }

    let db = TestDb::create().await;
    let metrics_addr = format!(
        "127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    let mut dev = Proc::spawn(
        &["dev", "--port", "0"],
        &db.url,
        &[("CHECKOUT__HTTP__METRICS_ADDR", metrics_addr.as_str())],
    );
    let base = format!("http://{}", dev.addr.unwrap());
    let args = crate::loadtest::loadtest_args(&[
        "--base-url",
        &base,
        "--rate",
        "1",
        "--duration",
        "1",
        "--settle",
        "1",
        "--checkout-timeout",
        "30",
    ]);
    let report = checkout::loadtest::execute(&args, Some(&db.url))
        .await
        .unwrap();
    assert_eq!(report.terminal.get("enrolled"), Some(&1), "{report:#?}");

    // sampled gauges (jobs, pool) appear within a sampling period
    let client = reqwest::Client::new();
    let url = format!("http://{metrics_addr}/metrics");
    let missing = || async {
        let text = client.get(&url).send().await.ok()?.text().await.ok()?;
        let exported: BTreeSet<String> = parse(&text).into_iter().map(|s| s.name).collect();
        Some(
            wanted
                .iter()
                .filter(|(name, _)| !exported.contains(*name))
                .map(|(name, place)| format!("{name} ({place})"))
                .collect::<Vec<_>>(),
        )
    };
    let all_there = eventually(Duration::from_secs(20), || async {
        let left = missing().await.filter(Vec::is_empty);
        if left.is_none() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        left
    })
    .await;
    if all_there.is_none() {
        let missing = missing().await.unwrap_or_default();
        panic!(
            "not exported by `checkout dev` after a checkout: {}",
            missing.join(", ")
        );
    }
    dev.terminate();
}
