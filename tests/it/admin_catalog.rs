//! `checkout admin catalog import|export` as a process, and the library calls behind it.

use std::process::Output;

use serde_json::{Value, json};

use crate::fixtures::catalog;
use crate::helpers::TestApp;

fn admin(app: &TestApp, args: &[&str]) -> Output {
    crate::helpers::admin(&app.db, args)
}

fn write_file(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn tmp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("checkout-it-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn counts(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for table in [
        "programs", "plans", "cohorts", "coupons", "sales", "fx_rates",
    ] {
        out.push(
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
                .fetch_one(&app.pool)
                .await
                .unwrap(),
        );
    }
    out
}

#[tokio::test]
async fn import_is_idempotent_and_updates_in_place() {
    let app = TestApp::spawn().await;
    let dir = tmp_dir();
    let sample = write_file(&dir, "c.json", checkout::admin::catalog::SAMPLE);
    let out = admin(&app, &["catalog", "import", &sample]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("5 programs, 12 plans"), "{text}");
    let first = counts(&app).await;
    assert_eq!(first, [5, 12, 8, 4, 2, 5]);
    // the sample's rates carry no date: stamped with the start of today (UTC), so the
    // sample stays usable for non-INR prices whatever the day
    let today = chrono::Utc::now()
        .date_naive()
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    let dated_today: i64 = sqlx::query_scalar("select count(*) from fx_rates where as_of = $1")
        .bind(today)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(dated_today, 5);

    // again, then with a changed title and price and entries without ids (matched by
    // slug, period and start date): nothing is duplicated
    let out = admin(&app, &["catalog", "import", &sample]);
    assert!(out.status.success());
    let mut doc: Value = serde_json::from_str(checkout::admin::catalog::SAMPLE).unwrap();
    doc["programs"][0]["title"] = json!("Full-Stack Web Development (2027)");
    doc["programs"][0]["plans"][0]["price_minor"] = json!(549_900);
    for program in doc["programs"].as_array_mut().unwrap() {
        program.as_object_mut().unwrap().remove("id");
        for plan in program["plans"].as_array_mut().unwrap() {
            plan.as_object_mut().unwrap().remove("id");
        }
        for cohort in program["cohorts"].as_array_mut().unwrap() {
            cohort.as_object_mut().unwrap().remove("id");
        }
    }
    doc["coupons"][0]["code"] = json!("welcome10");
    checkout::admin::catalog::import(&app.pool, &doc.to_string())
        .await
        .unwrap();
    assert_eq!(counts(&app).await, first);
    let (title, price): (String, i64) = sqlx::query_as(
        "select p.title, pl.price_minor from programs p join plans pl on pl.program_id = p.id
         where p.slug = 'full-stack-web-development' and pl.period_value = 1 and pl.period_unit = 'month'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(title, "Full-Stack Web Development (2027)");
    assert_eq!(price, 549_900);

    // what `dev` runs at every start
    checkout::admin::catalog::import_sample(&app.pool)
        .await
        .unwrap();
    assert_eq!(counts(&app).await, first);
}

#[tokio::test]
async fn invalid_file_lists_every_problem_with_its_path_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let mut doc = catalog();
    doc["programs"][0]["plans"][0]["price_minor"] = json!(-5);
    doc["programs"][0]["slug"] = json!("Web Dev");
    doc["programs"][1]["plans"][0]["prise"] = json!(1);
    doc["programs"][1]["cohorts"][0]["capacity"] = json!(-1);
    doc["programs"][2]["plans"][0]["currency"] = json!("USD");
    doc["coupons"][0]["discount"] = json!({"type": "percent", "value": "150"});
    doc["coupons"][1]["code"] = json!("save10");
    doc["coupons"][6]["programs"] = json!(["nope"]);
    doc["sales"][1]["valid_until"] = json!("2018-01-01T00:00:00Z");
    doc["fx_rates"][0]["rate"] = json!("0");
    doc["fx_rates"][1]["quote"] = json!("XYZ");
    doc["extra"] = json!(true);
    let dir = tmp_dir();
    let file = write_file(
        &dir,
        "bad.json",
        &serde_json::to_string_pretty(&doc).unwrap(),
    );
    let out = admin(&app, &["catalog", "import", &file]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for path in [
        "programs[0].plans[0].price_minor",
        "programs[0].slug",
        "programs[1].plans[0]",
        "programs[2].plans[0].currency",
        "coupons[0].discount",
        "coupons[1].code",
        "coupons[6].programs[0]",
        "sales[1].valid_until",
        "fx_rates[0].rate",
        "fx_rates[1].quote",
        "extra",
    ] {
        assert!(err.contains(path), "{path} missing from:\n{err}");
    }
    assert!(err.contains("prise"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(counts(&app).await, [0, 0, 0, 0, 0, 0]);

    // the cohort capacity problem (reported once the plan typo is fixed)
    doc = catalog();
    doc["programs"][1]["cohorts"][0]["capacity"] = json!(-1);
    let err = checkout::admin::catalog::import(&app.pool, &doc.to_string())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("programs[1].cohorts[0].capacity"),
        "{err}"
    );

    let file = write_file(&dir, "broken.json", "{\"programs\": [");
    let out = admin(&app, &["catalog", "import", &file]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid JSON"));
    assert_eq!(counts(&app).await, [0, 0, 0, 0, 0, 0]);
}

#[tokio::test]
async fn cohort_capacity_cannot_drop_below_seats_in_use() {
    let app = TestApp::spawn().await;
    let doc = catalog();
    checkout::admin::catalog::import(&app.pool, &doc.to_string())
        .await
        .unwrap();
    sqlx::query("update cohorts set seats_taken = 4 where id = $1::uuid")
        .bind(crate::fixtures::WEB_COHORT)
        .execute(&app.pool)
        .await
        .unwrap();
    let mut smaller = doc.clone();
    smaller["programs"][0]["cohorts"][0]["capacity"] = json!(3);
    let err = checkout::admin::catalog::import(&app.pool, &smaller.to_string())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("programs[0].cohorts[0].capacity: 4 seats"),
        "{err}"
    );
    // re-import keeps the seat counters
    checkout::admin::catalog::import(&app.pool, &doc.to_string())
        .await
        .unwrap();
    let taken: i32 = sqlx::query_scalar("select seats_taken from cohorts where id = $1::uuid")
        .bind(crate::fixtures::WEB_COHORT)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(taken, 4);
}

#[tokio::test]
async fn export_round_trips() {
    let app = TestApp::spawn().await;
    checkout::admin::catalog::import_sample(&app.pool)
        .await
        .unwrap();
    let out = admin(&app, &["catalog", "export"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exported = String::from_utf8(out.stdout).unwrap();
    let first: checkout::admin::catalog::CatalogFile = serde_json::from_str(&exported).unwrap();
    let sample: checkout::admin::catalog::CatalogFile =
        serde_json::from_str(checkout::admin::catalog::SAMPLE).unwrap();
    assert_eq!(first.programs.len(), sample.programs.len());
    assert_eq!(first.coupons.len(), sample.coupons.len());

    let other = TestApp::spawn().await;
    let dir = tmp_dir();
    let file = write_file(&dir, "export.json", &exported);
    let out = admin(&other, &["catalog", "import", &file]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = admin(&other, &["catalog", "export"]);
    assert_eq!(String::from_utf8(again.stdout).unwrap(), exported);
}
