//! The events dead-letter queue as `stockbridge dlq` reads and redrives it, through moto: a
//! poison message and an event of an unknown schema fail in the real consumer until the redrive
//! policy dead-letters them; listing names each one's reason (the consumer's own, recorded in
//! the inbox table on every failed receive, ahead of the one inferred from the message) and
//! leaves them there; a dry run
//! moves nothing; a redrive of one id, then of all, puts each back on the events queue once.

mod support;

use std::time::Duration;

use stockbridge_aws::dead_letters::SqsDeadLetters;
use stockbridge_core::ports::FailureLog;
use stockbridge_domain::event::{EventBody, InventoryEvent, Part, Source};
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_ops::dlq::{diagnose, reason_line, FailureReason};
use support::{stack, Stack, SHOP};

const POISON: &str = "this is not an inventory event";

fn unknown_schema() -> String {
    let event = InventoryEvent {
        schema: 1,
        key: format!("{SHOP}:w-future:0"),
        shop: ShopDomain::new(SHOP),
        source: Source::internal("inventory_levels/update", Timestamp::now()),
        part: Part::WHOLE,
        body: EventBody::Stock { changes: vec![] },
    };
    let body = event.to_json().replace(r#""schema":1"#, r#""schema":2"#);
    assert!(body.contains(r#""schema":2"#), "schema replaced: {body}");
    body
}

/// Sends both to the events queue and runs the consumer until both are dead-lettered.
async fn dead_letter_both(s: &Stack) {
    for body in [POISON.to_string(), unknown_schema()] {
        s.sqs
            .send_message()
            .queue_url(&s.poller.queue_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    for _ in 0..60 {
        s.drain_once().await;
        if s.depth(&s.dlq_url).await == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert_eq!(s.depth(&s.dlq_url).await, 2, "both reached the DLQ");
    assert_eq!(s.depth(&s.poller.queue_url).await, 0);
}

/// Every body on the events queue (received and deleted).
async fn take_source(s: &Stack) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let out = s
            .sqs
            .receive_message()
            .queue_url(&s.poller.queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if out.messages().is_empty() {
            return bodies;
        }
        for m in out.messages() {
            bodies.push(m.body().unwrap().to_string());
            s.sqs
                .delete_message()
                .queue_url(&s.poller.queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn dead_letters_are_listed_with_their_reason_and_redriven_once() {
    let s = stack().await;
    dead_letter_both(&s).await;
    let dlq = SqsDeadLetters::new(s.sqs.clone(), &s.dlq_url, &s.poller.queue_url);

    // list: both, each with its reason, and still there afterwards (a read, not a take).
    let listed = dlq.read_all().await.unwrap();
    assert_eq!(listed.len(), 2);
    let poison = listed.iter().find(|m| m.body == POISON).expect("poison");
    let future = listed.iter().find(|m| m.body != POISON).expect("schema 2");
    assert_eq!(diagnose(&poison.body).kind, "not an event");
    assert!(matches!(
        diagnose(&poison.body).failure,
        FailureReason::NotAnEvent { .. }
    ));
    let d = diagnose(&future.body);
    assert_eq!(d.failure, FailureReason::UnknownSchema { schema: 2 });
    assert_eq!(d.shop.as_deref(), Some(SHOP));
    assert_eq!(d.topic.as_deref(), Some("inventory_levels/update"));
    for m in &listed {
        assert!(m.sent_at_ms.is_some_and(|ms| ms > 0), "sent time");
        assert!(m.receive_count.is_some_and(|n| n >= 1), "receive count");
    }

    // The consumer's reasons, kept by message id, are what `dlq list` shows.
    let ids: Vec<String> = listed.iter().map(|m| m.message_id.clone()).collect();
    let recorded = s.store.failures(&ids).await.unwrap();
    let why = recorded
        .get(&poison.message_id)
        .expect("the poison message's failure is recorded");
    assert!(why.reason.starts_with("not an event: "), "{why:?}");
    assert_eq!(why.event_key, None);
    assert!(why.attempts.is_some_and(|n| n >= 1), "{why:?}");
    let shown = reason_line(&diagnose(&poison.body), Some(why));
    assert!(
        shown.starts_with(&format!("{} (the consumer's reason on receive", why.reason)),
        "{shown}"
    );
    let schema = recorded
        .get(&future.message_id)
        .expect("the schema 2 event's failure is recorded");
    assert!(schema.reason.contains('2'), "{schema:?}");
    assert_eq!(
        dlq.read_all().await.unwrap().len(),
        2,
        "listing moves nothing"
    );
    assert_eq!(
        dlq.find(&poison.message_id).await.unwrap().unwrap().body,
        POISON
    );

    // --dry-run: says both, moves nothing.
    let dry = dlq.redrive(|_| true, true, true).await.unwrap();
    assert_eq!(dry.moved.len(), 2);
    assert_eq!(s.depth(&s.dlq_url).await, 2, "dry run moved nothing");
    assert_eq!(s.depth(&s.poller.queue_url).await, 0);

    // --id: that one only.
    let id = poison.message_id.clone();
    let one = dlq.redrive(|m| m == id, false, false).await.unwrap();
    assert_eq!(one.moved, vec![id.clone()]);
    assert!(one.not_deleted.is_empty());
    assert_eq!(s.depth(&s.dlq_url).await, 1);
    assert_eq!(take_source(&s).await, vec![POISON.to_string()]);

    // --all: what is left (moto has no StartMessageMoveTask: moved one by one), once.
    let all = dlq.redrive(|_| true, true, false).await.unwrap();
    assert_eq!(all.move_task, None);
    assert_eq!(all.moved, vec![future.message_id.clone()]);
    assert_eq!(s.depth(&s.dlq_url).await, 0);
    assert_eq!(take_source(&s).await, vec![future.body.clone()]);
    let again = dlq.redrive(|_| true, true, false).await.unwrap();
    assert!(again.moved.is_empty(), "nothing is moved twice");
    assert_eq!(s.depth(&s.poller.queue_url).await, 0);
}
