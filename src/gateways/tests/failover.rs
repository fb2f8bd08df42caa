use std::time::Duration;

use secrecy::SecretString;

use crate::config::{PaymentsSettings, RazorpaySettings, StripeSettings};
use crate::gateways::*;
use crate::sandbox::Faults;
use crate::sandbox::testkit::*;

fn gateways(sb: &TestSandbox, razorpay: RazorpaySettings) -> Gateways {
    Gateways::from_settings(
        &razorpay,
        &sb.stripe_settings(),
        &fast_payments(&["razorpay", "stripe"]),
    )
    .unwrap()
}

#[tokio::test]
async fn breaker_opens_fails_over_and_closes_after_recovery() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let gw = gateways(&sb, sb.razorpay_settings());
    assert_eq!(
        gw.offered(),
        vec![GatewayKind::Razorpay, GatewayKind::Stripe]
    );

    sb.faults(
        GatewayKind::Razorpay,
        Faults {
            down: true,
            ..Default::default()
        },
    );
    // Razorpay answers 503 three times (retries), its breaker opens, Stripe serves.
    let report = gw.create_session(&order_request("ord_fo_1")).await;
    assert_eq!(report.attempts.len(), 2);
    assert!(matches!(
        report.attempts[0].outcome,
        AttemptOutcome::Failed(GatewayError::Server { status: 503, .. })
    ));
    let session = report.session().unwrap().clone();
    assert_eq!(session.gateway, GatewayKind::Stripe);
    assert_eq!(report.created().len(), 1);
    assert_eq!(sb.state.request_count(GatewayKind::Razorpay), 3);
    assert_eq!(
        gw.breaker_states()[&GatewayKind::Razorpay],
        BreakerState::Open
    );

    // While open, Razorpay is skipped without a request.
    let report = gw.create_session(&order_request("ord_fo_2")).await;
    assert!(matches!(
        report.attempts[0].outcome,
        AttemptOutcome::Skipped
    ));
    assert_eq!(report.session().unwrap().gateway, GatewayKind::Stripe);
    assert_eq!(sb.state.request_count(GatewayKind::Razorpay), 3);
    assert!(report.possibly_orphaned().is_empty());

    // Razorpay recovers; after the open period a probe goes through and closes it.
    sb.faults(GatewayKind::Razorpay, Faults::default());
    tokio::time::sleep(Duration::from_millis(350)).await;
    let report = gw.create_session(&order_request("ord_fo_3")).await;
    assert_eq!(report.attempts.len(), 1);
    assert_eq!(report.session().unwrap().gateway, GatewayKind::Razorpay);
    assert_eq!(
        gw.breaker_states()[&GatewayKind::Razorpay],
        BreakerState::Closed
    );
}

#[tokio::test]
async fn a_timed_out_create_is_reported_as_possibly_orphaned_and_recoverable() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let razorpay = RazorpaySettings {
        timeout_ms: 100,
        ..sb.razorpay_settings()
    };
    let gw = gateways(&sb, razorpay);
    // The lookup works, every create hangs (before taking effect).
    sb.faults(
        GatewayKind::Razorpay,
        Faults {
            timeout_next: 3,
            only_methods: vec!["POST".into()],
            ..Default::default()
        },
    );
    let req = order_request("ord_fo_timeout");
    let report = gw.create_session(&req).await;
    assert_eq!(report.session().unwrap().gateway, GatewayKind::Stripe);
    assert_eq!(
        report.possibly_orphaned(),
        vec![(GatewayKind::Razorpay, None)]
    );

    // Recovery: the same request at Razorpay returns whatever exists, or makes
    // one, and it can then be tracked.
    sb.faults(GatewayKind::Razorpay, Faults::default());
    let rzp = gw.get(GatewayKind::Razorpay).unwrap();
    let recovered = rzp.create_session(&req).await.unwrap();
    let again = rzp.create_session(&req).await.unwrap();
    assert_eq!(recovered.gateway_order_id, again.gateway_order_id);
}

#[tokio::test]
async fn permanent_errors_do_not_fail_over() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let razorpay = RazorpaySettings {
        key_secret: Some(SecretString::from("wrong")),
        ..sb.razorpay_settings()
    };
    let gw = gateways(&sb, razorpay);
    let report = gw.create_session(&order_request("ord_fo_auth")).await;
    assert_eq!(report.attempts.len(), 1);
    assert!(report.session().is_none());
    assert_eq!(sb.state.request_count(GatewayKind::Stripe), 0);
    assert!(matches!(
        report.into_result(),
        Err(GatewayError::Auth { .. })
    ));
}

#[tokio::test]
async fn gateways_without_keys_are_not_offered() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let gw = gateways(&sb, RazorpaySettings::default());
    assert_eq!(gw.offered(), vec![GatewayKind::Stripe]);
    let report = gw
        .create_session(&order_request("ord_fo_stripe_only"))
        .await;
    assert_eq!(report.into_result().unwrap().gateway, GatewayKind::Stripe);

    let none = Gateways::from_settings(
        &RazorpaySettings::default(),
        &StripeSettings::default(),
        &PaymentsSettings::default(),
    )
    .unwrap();
    assert!(none.offered().is_empty());
    assert!(matches!(
        none.create_session(&order_request("x")).await.into_result(),
        Err(GatewayError::NoGateway)
    ));

    // The configured order is respected.
    let reversed = Gateways::from_settings(
        &sb.razorpay_settings(),
        &sb.stripe_settings(),
        &fast_payments(&["stripe", "razorpay"]),
    )
    .unwrap();
    assert_eq!(
        reversed.offered(),
        vec![GatewayKind::Stripe, GatewayKind::Razorpay]
    );
}
