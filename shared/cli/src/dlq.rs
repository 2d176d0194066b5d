//! `stockbridge dlq`: a dead-letter queue, by `--queue`: `events` (the default: `EVENTS_DLQ_URL`,
//! the stack's output `EventsDeadLetterQueueUrl`, redriven to `EVENTS_QUEUE_URL`) or
//! `erp-changes` (`ERP_CHANGES_DLQ_URL`, output `ErpChangesDeadLetterQueueUrl`, redriven to
//! `ERP_CHANGES_QUEUE_URL`). `list` shows each message's id, sent time, receive count, what
//! it is (event kind, topic, shop, or "not an event") and why it failed: the consumer's (or the
//! ERP sync's) reason kept in the inbox table (`FAILURE#<message id>`), else read from the
//! message ([`stockbridge_ops::dlq`]); `show` one message with its body; `redrive` moves
//! messages back to the queue they came from, all of them or `--id`s, each once, or with
//! `--dry-run` only says which. Needs `sqs:ReceiveMessage`, `sqs:ChangeMessageVisibility`,
//! `sqs:GetQueueAttributes`, `dynamodb:GetItem` on the inbox table, and to redrive `sqs:SendMessage` on the source queue,
//! `sqs:DeleteMessage` and `sqs:StartMessageMoveTask` on the dead-letter queue.

use std::process::ExitCode;

use clap::Subcommand;

use std::collections::HashMap;

use stockbridge_aws::dead_letters::{DeadLetter, SqsDeadLetters};
use stockbridge_core::config::required_env;
use stockbridge_core::ports::{FailureLog, FailureRecord};
use stockbridge_domain::ids::Timestamp;
use stockbridge_ops::dlq::{diagnose, reason_line, Selection};

use crate::deployment::Deployment;
use crate::error::{CommandError, Result};

/// Which dead-letter queue a `dlq` command reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DlqQueue {
    /// The events queue's (the stock consumer's).
    #[default]
    Events,
    /// The ERP changes queue's (the ERP sync's).
    ErpChanges,
}

impl DlqQueue {
    /// The environment variables holding the dead-letter queue's URL and its source queue's
    /// (where a redrive sends the messages).
    pub fn url_envs(self) -> (&'static str, &'static str) {
        match self {
            DlqQueue::Events => ("EVENTS_DLQ_URL", "EVENTS_QUEUE_URL"),
            DlqQueue::ErpChanges => ("ERP_CHANGES_DLQ_URL", "ERP_CHANGES_QUEUE_URL"),
        }
    }
}

#[derive(Subcommand)]
pub enum DlqAction {
    /// Each message: id, sent time, receive count, what it is and why it failed.
    List {
        #[arg(long)]
        json: bool,
        /// Which dead-letter queue: events (default) or erp-changes.
        #[arg(long, value_enum, default_value_t)]
        queue: DlqQueue,
    },
    /// One message with its reason and body.
    Show {
        id: String,
        /// Which dead-letter queue: events (default) or erp-changes.
        #[arg(long, value_enum, default_value_t)]
        queue: DlqQueue,
    },
    /// Sends messages back to the queue they came from, each once (`--all`, or `--id` repeated).
    Redrive {
        /// Which dead-letter queue: events (default) or erp-changes.
        #[arg(long, value_enum, default_value_t)]
        queue: DlqQueue,
        /// Every message (SQS's move task where the service offers it).
        #[arg(long, conflicts_with = "ids", required_unless_present = "ids")]
        all: bool,
        /// This message id (repeat for several; `dlq list` shows them).
        #[arg(long = "id")]
        ids: Vec<String>,
        /// Say what would move; move nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn command(action: DlqAction, at: &Deployment) -> Result<ExitCode> {
    match action {
        DlqAction::List { json, queue } => list(at, queue, json).await,
        DlqAction::Show { id, queue } => show(at, queue, &id).await,
        DlqAction::Redrive {
            queue,
            all,
            ids,
            dry_run,
        } => redrive(at, queue, all, ids, dry_run).await,
    }
}

fn dead_letters(at: &Deployment, which: DlqQueue) -> Result<SqsDeadLetters> {
    let (dlq_env, source_env) = which.url_envs();
    let queue = at.queue_named(source_env)?;
    let dlq = required_env(dlq_env)?;
    Ok(SqsDeadLetters::new(
        queue.client().clone(),
        dlq,
        queue.url(),
    ))
}

/// The consumer's failure records of these messages.
async fn recorded(
    at: &Deployment,
    messages: &[DeadLetter],
) -> Result<HashMap<String, FailureRecord>> {
    let ids: Vec<String> = messages.iter().map(|m| m.message_id.clone()).collect();
    Ok(at.store()?.failures(&ids).await?)
}

fn line(m: &DeadLetter, recorded: Option<&FailureRecord>) -> String {
    let d = diagnose(&m.body);
    let sent = m.sent_at_ms.map_or("sent ?".into(), |ms| {
        Timestamp::from_millis(ms).to_rfc3339()
    });
    let received = m.receive_count.map_or("?".to_string(), |n| n.to_string());
    let what = [Some(d.kind.clone()), d.topic.clone(), d.shop.clone()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "{}  {sent}  receives {received} (this read included)  {what}  reason: {}",
        m.message_id,
        reason_line(&d, recorded)
    )
}

/// One line per message; `json`: the messages with their diagnosis.
pub async fn list(at: &Deployment, which: DlqQueue, json: bool) -> Result<ExitCode> {
    let messages = dead_letters(at, which)?.read_all().await?;
    let records = recorded(at, &messages).await?;
    if json {
        let out: Vec<_> = messages
            .iter()
            .map(|m| {
                serde_json::json!({
                    "message_id": m.message_id,
                    "sent_at_ms": m.sent_at_ms,
                    "receive_count": m.receive_count,
                    "diagnosis": diagnose(&m.body),
                    "recorded_failure": records.get(&m.message_id),
                    "explanation": reason_line(&diagnose(&m.body), records.get(&m.message_id)),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for m in &messages {
            println!("{}", line(m, records.get(&m.message_id)));
        }
        eprintln!("{} message(s) in the dead-letter queue", messages.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// One message: its line, the full reason and its body (exit 1: not there).
pub async fn show(at: &Deployment, which: DlqQueue, id: &str) -> Result<ExitCode> {
    let Some(m) = dead_letters(at, which)?.find(id).await? else {
        eprintln!("no message {id} in the dead-letter queue (`stockbridge dlq list` lists them)");
        return Ok(ExitCode::from(1));
    };
    let records = recorded(at, std::slice::from_ref(&m)).await?;
    println!("{}", line(&m, records.get(&m.message_id)));
    println!("{}", m.body);
    Ok(ExitCode::SUCCESS)
}

/// Moves `--all` or the `--id`s back to the events queue (exit 1: a message sent back could not
/// be deleted from the dead-letter queue, or an id was not found).
pub async fn redrive(
    at: &Deployment,
    which: DlqQueue,
    all: bool,
    ids: Vec<String>,
    dry_run: bool,
) -> Result<ExitCode> {
    let selection = match (all, ids.is_empty()) {
        (true, true) => Selection::All,
        (false, false) => Selection::Ids(ids.clone()),
        _ => return Err(CommandError::RedriveWhich.into()),
    };
    let everything = selection == Selection::All;
    let done = dead_letters(at, which)?
        .redrive(|id| selection.includes(id), everything, dry_run)
        .await?;
    if let Some(task) = &done.move_task {
        println!("SQS move task started: {task} (`aws sqs list-message-move-tasks` follows it)");
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if dry_run { "would move" } else { "moved" };
    for id in &done.moved {
        println!("{verb} {id}");
    }
    for (id, why) in &done.not_deleted {
        eprintln!("sent back but still in the dead-letter queue: {id}: {why}");
    }
    let missing: Vec<&String> = ids.iter().filter(|id| !done.moved.contains(id)).collect();
    for id in &missing {
        eprintln!("no message {id} in the dead-letter queue");
    }
    eprintln!("{verb} {} message(s)", done.moved.len());
    Ok(if done.not_deleted.is_empty() && missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        action: DlqAction,
    }

    fn queue_of(args: &[&str]) -> DlqQueue {
        let cli = Cli::try_parse_from(std::iter::once("dlq").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        match cli.action {
            DlqAction::List { queue, .. }
            | DlqAction::Show { queue, .. }
            | DlqAction::Redrive { queue, .. } => queue,
        }
    }

    #[test]
    fn the_events_queue_is_the_default_and_erp_changes_is_chosen_by_name() {
        assert_eq!(queue_of(&["list"]), DlqQueue::Events);
        assert_eq!(queue_of(&["show", "m-1"]), DlqQueue::Events);
        assert_eq!(
            queue_of(&["list", "--queue", "erp-changes"]),
            DlqQueue::ErpChanges
        );
        assert_eq!(
            queue_of(&["show", "m-1", "--queue", "erp-changes"]),
            DlqQueue::ErpChanges
        );
        assert_eq!(
            queue_of(&["redrive", "--queue", "erp-changes", "--all", "--dry-run"]),
            DlqQueue::ErpChanges
        );
        assert_eq!(queue_of(&["redrive", "--id", "m-1"]), DlqQueue::Events);
        assert!(Cli::try_parse_from(["dlq", "list", "--queue", "orders"]).is_err());
    }

    #[test]
    fn each_queue_reads_its_own_dead_letters_and_redrives_to_its_source() {
        assert_eq!(
            DlqQueue::Events.url_envs(),
            ("EVENTS_DLQ_URL", "EVENTS_QUEUE_URL")
        );
        assert_eq!(
            DlqQueue::ErpChanges.url_envs(),
            ("ERP_CHANGES_DLQ_URL", "ERP_CHANGES_QUEUE_URL")
        );
    }
}
