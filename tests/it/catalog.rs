//! `GET /api/v1/internships` and `/api/v1/internships/{id}`.

use crate::fixtures::*;
use crate::helpers::TestApp;

#[tokio::test]
async fn lists_active_programs_with_plans_upcoming_cohorts_and_seats_left() {
    let app = TestApp::spawn().await;
    load_catalog(&app).await;
    sqlx::query("update cohorts set seats_held = 2, seats_taken = 3 where id = $1::uuid")
        .bind(WEB_COHORT)
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, body) = get(&app, "/api/v1/internships").await;
    assert_eq!(status, 200, "{body}");
    let programs = body["data"].as_array().unwrap();
    let slugs: Vec<&str> = programs
        .iter()
        .map(|p| p["slug"].as_str().unwrap())
        .collect();
    assert_eq!(
        slugs,
        ["data-science", "ui-ux", "web"],
        "by title, archived left out"
    );
    let web = &programs[2];
    assert_eq!(web["id"], WEB);
    // shortest period first
    assert_eq!(web["plans"][0]["id"], WEB_1M);
    assert_eq!(web["plans"][0]["period"]["unit"], "month");
    assert_eq!(web["plans"][0]["price_minor"], 499_900);
    assert_eq!(web["plans"][0]["currency"], "INR");
    assert_eq!(web["plans"][1]["id"], WEB_3M);
    // the 2020 cohort is over and not shown
    let cohorts = web["cohorts"].as_array().unwrap();
    assert_eq!(cohorts.len(), 1);
    assert_eq!(cohorts[0]["id"], WEB_COHORT);
    assert_eq!(cohorts[0]["capacity"], 10);
    assert_eq!(cohorts[0]["seats_left"], 5);
    assert_eq!(web["seats_left"], 5);
}

#[tokio::test]
async fn shows_one_program_by_id_or_slug_and_404s_unknown_ones() {
    let app = TestApp::spawn().await;
    load_catalog(&app).await;
    let (status, by_id) = get(&app, &format!("/api/v1/internships/{DS}")).await;
    assert_eq!(status, 200);
    let (_, by_slug) = get(&app, "/api/v1/internships/data-science").await;
    assert_eq!(by_id["data"], by_slug["data"]);
    assert_eq!(by_id["data"]["plans"][0]["id"], DS_1M);
    assert_eq!(by_id["data"]["cohorts"][0]["seats_left"], 5);

    let (status, old) = get(&app, "/api/v1/internships/android").await;
    assert_eq!(status, 200);
    assert_eq!(old["data"]["status"], "archived");

    let got = get(&app, "/api/v1/internships/no-such-thing").await;
    assert_error(&got, 404, 1101);
    let got = get(
        &app,
        "/api/v1/internships/00000000-0000-4000-8000-00000000ffff",
    )
    .await;
    assert_error(&got, 404, 1101);
}
