//! `drill webhooks`: the Black Friday drill. Signed webhooks at a rate, with a topic mix and a
//! skewed catalogue, through a private local stack (webhook router, SQS, consumers, Tryton),
//! checked at the end against the generator's own model; or, with `--url`, against a deployed
//! webhook (https) reporting what the sender sees.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stockbridge_aws::dynamodb::DynamoStore;
use stockbridge_aws::sqs::SqsQueue;
use stockbridge_core::config::ShopSecrets;
use stockbridge_core::telemetry::Metrics;
use stockbridge_core::webhook::{WebhookService, DEFAULT_MAX_BODY_BYTES};
use stockbridge_domain::ids::Timestamp;
use stockbridge_domain::stock::StockLevel;

pub use crate::args::{Sent, WebhookArgs};
use crate::load::{Generator, Model};
use crate::measure::{from_first_point, CountCalls, QueueDepth, Sorted};
use crate::plot::svg_plot;
use crate::report::{LocalFigures, RemoteFigures};
use crate::stack::{self, SHOP};

/// Where and as whom the webhooks go.
struct Target<'a> {
    url: &'a str,
    secret: &'a str,
    shop: &'a str,
    run: i64,
}

/// Sends the generator's webhooks to the target at `args.rate` for `args.seconds`, signed with
/// its secret, at most `args.in_flight` at a time.
async fn send_webhooks(
    args: &WebhookArgs,
    generator: &mut Generator,
    target: &Target<'_>,
    started: Instant,
) -> Result<Sent, Box<dyn std::error::Error>> {
    let total_events = (args.rate * args.seconds as f64) as usize;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let permits = Arc::new(tokio::sync::Semaphore::new(args.in_flight));
    let mut tasks = Vec::with_capacity(total_events);
    let mut mix = BTreeMap::<&'static str, usize>::new();
    eprintln!(
        "drill: sending {total_events} webhooks at {} /s for {} s",
        args.rate, args.seconds
    );
    let mut n = 0usize;
    while n < total_events {
        let due = started + Duration::from_secs_f64(n as f64 / args.rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        for (topic, body) in generator.next_action() {
            *mix.entry(topic).or_default() += 1;
            let hmac =
                stockbridge_shopify::signature::sign(target.secret.as_bytes(), body.as_bytes());
            let (client, url, permits) = (client.clone(), target.url.to_string(), permits.clone());
            let (webhook_id, shop) = (format!("drill-{}-{n}", target.run), target.shop.to_string());
            n += 1;
            tasks.push(tokio::spawn(async move {
                let _permit = permits.acquire_owned().await;
                let t = Instant::now();
                let status = client
                    .post(&url)
                    .header("X-Shopify-Topic", topic)
                    .header("X-Shopify-Hmac-Sha256", hmac)
                    .header("X-Shopify-Shop-Domain", shop)
                    .header("X-Shopify-Webhook-Id", webhook_id)
                    .header("X-Shopify-API-Version", "2026-04")
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                (status, t.elapsed().as_secs_f64() * 1000.0)
            }));
        }
    }
    let mut statuses = BTreeMap::<u16, usize>::new();
    let mut response_ms = Vec::with_capacity(tasks.len());
    for t in tasks {
        let (status, ms) = t.await?;
        *statuses.entry(status).or_default() += 1;
        response_ms.push(ms);
    }
    Ok(Sent {
        n,
        mix,
        statuses,
        response_ms: Sorted::new(response_ms),
    })
}

/// `drill webhooks --url`: the same load against a deployed webhook URL (https, or loopback).
/// Only what the sender sees is reported: the deployment's tables and ERP are not read.
pub async fn remote(args: WebhookArgs, url: String) -> Result<String, Box<dyn std::error::Error>> {
    let parsed = reqwest::Url::parse(&url)?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if parsed.scheme() != "https" && !loopback {
        return Err("a deployed webhook URL must be https (http only on loopback)".into());
    }
    let secret = std::env::var("DRILL_WEBHOOK_SECRET")
        .map_err(|_| "set DRILL_WEBHOOK_SECRET to the shop's webhook secret (never a flag)")?;
    args.check()?;
    let run = Timestamp::now().as_secs();
    let mut generator = Generator::new(args.skus, args.zipf, run);
    let target = Target {
        url: &url,
        secret: &secret,
        shop: &args.shop,
        run,
    };
    let started = Instant::now();
    let sent = send_webhooks(&args, &mut generator, &target, started).await?;
    Ok(RemoteFigures {
        args: &args,
        url: &url,
        sent: &sent,
        took_secs: started.elapsed().as_secs_f64(),
    }
    .markdown())
}

/// The drill's store with every DynamoDB call counted (requests per event).
async fn counted_store(store: &DynamoStore) -> (DynamoStore, CountCalls) {
    let calls = CountCalls::default();
    let sdk = stockbridge_aws::sdk::sdk_config().await;
    let counted = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(calls.clone())
            .build(),
    );
    (DynamoStore::new(counted, store.tables().clone()), calls)
}

/// The webhook function, same router as in Lambda, on a loopback port until `stop`; returns
/// its URL and its metrics.
pub(crate) async fn serve_webhook(
    queue: &SqsQueue,
    store: &DynamoStore,
    secret: &str,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<(String, Metrics), Box<dyn std::error::Error>> {
    let metrics = Metrics::silent("webhook");
    let service = WebhookService {
        shops: ShopSecrets::parse(&format!("{SHOP}={secret}"))?,
        queue: queue.clone(),
        inbox: store.clone(),
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        metrics: metrics.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhooks/shopify", listener.local_addr()?);
    tokio::spawn(stockbridge_lambda::local::serve(
        listener,
        stockbridge_lambda::http_api::router(Arc::new(service)),
        stop.clone(),
    ));
    Ok((url, metrics))
}

/// Why a SKU's stock record differs from the generator's model, if it does.
fn off_model(model: &Model, sku: usize, l: &StockLevel) -> Option<String> {
    let (available, committed) = (model.available[sku], model.committed[sku]);
    ((l.available, l.committed) != (available, committed)).then(|| {
        format!(
            "SKU {sku}: DynamoDB {}/{}, model {available}/{committed}",
            l.available, l.committed
        )
    })
}

/// `drill webhooks`: through a private local stack, checked against the generator's model.
pub async fn local(args: WebhookArgs) -> Result<String, Box<dyn std::error::Error>> {
    args.check()?;
    let setup = stack::setup(args.skus).await?;
    let (store, calls) = counted_store(&setup.store).await;
    let secret = format!("drill-secret-{}", setup.run);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (url, webhook_metrics) = serve_webhook(&setup.queue, &store, &secret, &stop_rx).await?;
    let batching = (args.consumers, 100, Duration::from_millis(1000));
    let consumers = stack::start_consumers(&setup, &store, batching, &stop_rx)?;
    let started = Instant::now();
    let depth = QueueDepth::sample(&setup.sqs, setup.queue_url(), started, &stop_rx);

    // The generator: a realistic mix on a Zipf-skewed catalogue, with its own model of Shopify.
    let mut generator = Generator::new(args.skus, args.zipf, setup.run);
    let target = Target {
        url: &url,
        secret: &secret,
        shop: SHOP,
        run: setup.run,
    };
    let sent = send_webhooks(&args, &mut generator, &target, started).await?;
    let sent_secs = started.elapsed().as_secs_f64();
    let model = &generator.model;

    // Settled: every SKU at the model's figures and nothing owed to the ERP.
    let deadline = started + Duration::from_secs(args.seconds + args.max_seconds);
    let want = model.touched.iter().filter(|t| **t).count();
    stack::wait_until_settled(&store, args.skus, deadline, want, |sku, l| {
        off_model(model, sku, l)
    })
    .await?;
    let settled_secs = started.elapsed().as_secs_f64();
    let metrics = consumers.stop(&stop_tx).await;
    let depth = depth.finish().await;

    // Nothing lost or doubled: DynamoDB and the ERP against the generator's model.
    let wrong = stack::erp_mismatches(&setup, |sku| {
        model.touched[sku].then(|| model.available[sku] + model.committed[sku])
    })
    .await?;
    let report = LocalFigures {
        args: &args,
        sent: &sent,
        server_ms: Sorted::new(webhook_metrics.values("WebhookResponseMs")),
        applied_ms: Sorted::new(metrics.values("AppliedLatencyMs")),
        end_to_end_ms: Sorted::new(metrics.values("EndToEndLatencyMs")),
        applied: metrics.total("EventsApplied"),
        duplicates: metrics.total("EventsDuplicate"),
        max_depth: depth.iter().map(|d| d.1).fold(0.0, f64::max),
        sent_secs,
        settled_secs,
        dynamo_calls: calls.total() as f64,
        erp_documents: metrics.total("ErpWrites"),
        erp_calls: metrics.values("ErpCallMs").len() as f64,
        wrong: wrong.len(),
    }
    .markdown();
    if let Some(dir) = &args.out_dir {
        write_out_dir(dir, &report, &metrics, &depth, &args)?;
    }
    if !wrong.is_empty() {
        eprintln!("drill: MISMATCH: {}", wrong.join("; "));
        return Err(format!("{} SKUs differ from the model", wrong.len()).into());
    }
    Ok(report)
}

/// report.md and latency.svg (end-to-end latency as the consumers put it, and the queue depth).
fn write_out_dir(
    dir: &Path,
    report: &str,
    metrics: &Metrics,
    depth: &[(f64, f64)],
    args: &WebhookArgs,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("report.md"), report)?;
    let latency = from_first_point(&metrics.timeline("EndToEndLatencyMs"));
    let title = format!("{} webhooks/s for {} s", args.rate, args.seconds);
    std::fs::write(dir.join("latency.svg"), svg_plot(&latency, depth, &title))
}
