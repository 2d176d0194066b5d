//! `stockbridge dlq --queue erp-changes` against moto: the command itself (the `stockbridge`
//! binary, built by the test) with a private stack's environment, where `infra/local/provision.py`
//! wrote `ERP_CHANGES_DLQ_URL` for the ERP changes queue's dead-letter queue. A dead-lettered
//! `erp_change` event and a poison message in the events DLQ: each queue's `list` shows its own
//! message only (the events DLQ stays the default), `show` finds the ERP one only under
//! `--queue erp-changes`, and `redrive --queue erp-changes` sends it back to the ERP changes
//! queue, never to the events queue.

mod support;

use std::collections::HashMap;

use serde_json::Value;
use stockbridge_domain::event::{EventBody, InventoryEvent, Part, Source};
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use support::{stack, Stack, SHOP};

const POISON: &str = "this is not an inventory event";

/// Runs `stockbridge dlq ARGS` with the stack's environment: exit code, stdout, stderr.
fn dlq(s: &Stack, args: &[&str]) -> (i32, String, String) {
    let env: HashMap<String, String> = s.env.clone();
    let out = std::process::Command::new(support::stockbridge_binary())
        .arg("dlq")
        .args(args)
        .envs(&env)
        .output()
        .expect("run stockbridge dlq");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn listed(s: &Stack, queue: Option<&str>) -> Vec<Value> {
    let mut args = vec!["list", "--json"];
    if let Some(q) = queue {
        args.extend(["--queue", q]);
    }
    let (code, out, err) = dlq(s, &args);
    assert_eq!(code, 0, "dlq {args:?}: {err}");
    serde_json::from_str::<Vec<Value>>(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"))
}

async fn send(s: &Stack, url: &str, body: &str) {
    s.sqs
        .send_message()
        .queue_url(url)
        .message_body(body)
        .send()
        .await
        .expect("send");
}

/// Every body on `url` (received and deleted).
async fn take(s: &Stack, url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let out = s
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        if out.messages().is_empty() {
            return bodies;
        }
        for m in out.messages() {
            bodies.push(m.body().unwrap_or_default().to_string());
            s.sqs
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
}

#[tokio::test]
async fn the_erp_changes_dead_letters_are_listed_shown_and_redriven_to_their_own_queue() {
    let s = stack().await;
    let erp_dlq = s.env["ERP_CHANGES_DLQ_URL"].clone();
    let erp_queue = s.env["ERP_CHANGES_QUEUE_URL"].clone();
    assert_ne!(
        erp_dlq, s.dlq_url,
        "provision.py wrote the ERP changes DLQ's own URL"
    );
    let change = InventoryEvent {
        schema: 1,
        key: format!("{SHOP}:erp:tryton:abc:0~s11"),
        shop: ShopDomain::new(SHOP),
        source: Source::internal("stockbridge/erp-sync-retry", Timestamp::now()),
        part: Part::WHOLE,
        body: EventBody::ErpChange {
            changes: vec![],
            attempt: 11,
        },
    }
    .to_json();
    send(&s, &erp_dlq, &change).await;
    send(&s, &s.dlq_url, POISON).await;

    // Each queue lists its own message; the events DLQ is the default.
    let erp = listed(&s, Some("erp-changes"));
    assert_eq!(erp.len(), 1, "{erp:#?}");
    assert_eq!(erp[0]["diagnosis"]["kind"], "erp_change");
    assert_eq!(erp[0]["diagnosis"]["topic"], "stockbridge/erp-sync-retry");
    let events = listed(&s, None);
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["diagnosis"]["kind"], "not an event");
    assert_eq!(listed(&s, Some("events")).len(), 1);

    // show: only under its queue.
    let id = erp[0]["message_id"]
        .as_str()
        .expect("message id")
        .to_string();
    let (code, out, _) = dlq(&s, &["show", &id, "--queue", "erp-changes"]);
    assert_eq!(code, 0);
    assert!(out.contains(&change), "{out}");
    let (code, _, err) = dlq(&s, &["show", &id]);
    assert_eq!(code, 1, "not in the events DLQ: {err}");

    // redrive: a dry run moves nothing; then back to the ERP changes queue, once.
    let (code, out, _) = dlq(
        &s,
        &["redrive", "--queue", "erp-changes", "--all", "--dry-run"],
    );
    assert_eq!(code, 0);
    assert!(out.contains(&format!("would move {id}")), "{out}");
    assert_eq!(s.depth(&erp_dlq).await, 1);
    let (code, out, err) = dlq(&s, &["redrive", "--queue", "erp-changes", "--id", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("moved {id}")), "{out}");
    assert_eq!(s.depth(&erp_dlq).await, 0);
    assert_eq!(take(&s, &erp_queue).await, vec![change]);
    assert_eq!(
        s.depth(&s.poller.queue_url).await,
        0,
        "nothing went to the events queue"
    );
    assert_eq!(s.depth(&s.dlq_url).await, 1, "the events DLQ is untouched");
}
