//! Credit notes follow processed refunds and reverse exactly what was refunded.

use serde_json::json;

use super::*;
use crate::fixtures::{WEB, WEB_1M};

fn refund(shop: &Shop, order: &str, amount: Option<&str>) {
    let mut args = vec!["--actor", "finance", "orders", "refund", order];
    if let Some(a) = amount {
        args.extend(["--amount", a]);
    }
    let out = crate::helpers::admin(&shop.app.db, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sum(notes: &[Value], field: &str) -> i64 {
    notes
        .iter()
        .map(|n| n["totals"][field].as_i64().unwrap())
        .sum()
}

/// A partial refund, then the rest: two credit notes of the `C` series, each naming the
/// invoice (number and date) and reversing exactly its refund; together they reverse
/// the invoice per tax component and per line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_and_a_full_refund_give_credit_notes_that_reverse_exactly_the_refunds() {
    let shop = Shop::start(true, |_| {}).await;
    add_big_program(&shop).await;
    let token = shop.student(1).await;
    let address = json!({"country": "IN", "state": "KA"});
    let order = buy(
        &shop,
        &token,
        &[(WEB, WEB_1M), (BIG, BIG_1M)],
        None,
        None,
        address,
    )
    .await;
    let invoice = wait_invoice(&shop, &token, &order, 0).await["invoice"].clone();
    let total = invoice["totals"]["total"].as_i64().unwrap();

    refund(&shop, &order, Some("10001"));
    let data = wait_invoice(&shop, &token, &order, 1).await;
    let first = &data["credit_notes"][0];
    assert_eq!(first["document_type"], "credit_note");
    assert!(
        first["number"].as_str().unwrap().starts_with("KA/C"),
        "{first}"
    );
    assert!(
        first["number"].as_str().unwrap().ends_with("/000001"),
        "{first}"
    );
    assert_eq!(first["reference"]["number"], invoice["number"]);
    assert_eq!(first["reference"]["date"], invoice["issue_date"]);
    assert!(
        first["reason"].as_str().unwrap().contains("finance"),
        "{first}"
    );
    let t = &first["totals"];
    assert_eq!(t["total"], 10_001);
    assert_eq!(
        t["taxable_value"].as_i64().unwrap() + t["tax"].as_i64().unwrap(),
        10_001
    );
    assert_eq!(
        t["tax"].as_i64().unwrap(),
        t["cgst"].as_i64().unwrap() + t["sgst"].as_i64().unwrap()
    );
    assert!(
        first["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l.get("quantity").is_none())
    );

    refund(&shop, &order, None);
    let data = wait_invoice(&shop, &token, &order, 2).await;
    let notes = data["credit_notes"].as_array().unwrap().clone();
    assert!(notes[1]["number"].as_str().unwrap().ends_with("/000002"));
    assert_eq!(notes[1]["totals"]["total"], total - 10_001);
    let refunded: i64 = shop
        .count("select coalesce(sum(amount), 0)::bigint from refunds where status = 'processed'")
        .await;
    assert_eq!(sum(&notes, "total"), refunded);
    for field in ["taxable_value", "cgst", "sgst", "igst", "tax", "total"] {
        assert_eq!(
            sum(&notes, field),
            invoice["totals"][field].as_i64().unwrap(),
            "{field}"
        );
    }
    for (i, line) in invoice["lines"].as_array().unwrap().iter().enumerate() {
        for field in ["taxable_value", "tax", "total"] {
            let reversed: i64 = notes
                .iter()
                .map(|n| n["lines"][i][field].as_i64().unwrap())
                .sum();
            assert_eq!(reversed, line[field].as_i64().unwrap(), "line {i} {field}");
        }
    }
    shop.assert_count(
        "select count(*) from credit_notes where refund_id is not null",
        2,
    )
    .await;
    let kinds = violations(&shop).await;
    assert!(!kinds.contains(&"credit_note_missing"), "{kinds:?}");
    // issued documents are immutable
    let edit = sqlx::query("update credit_notes set total = 1")
        .execute(&shop.app.pool)
        .await;
    assert!(edit.is_err());
}
