//! The weekly health report end to end: a recorded week of reconciliation reports written into
//! moto's inbox table (every 4 hours, two locations, one report older than the week), parked
//! and quarantined deliveries through the real webhook and consumer, a dead letter, then the
//! reporter renders the page, keeps it in the template's health report bucket and announces it
//! on a bus whose rule forwards `WeeklyHealthReportReady` to a queue this test reads. The page
//! is then opened in headless Chromium: the dumped DOM must have the charts drawn (one
//! polyline per location and per correction kind, with points) and the screenshot must be a
//! 1200x900 PNG that is not blank. Six days of latency digest rows (each hour added in two
//! batches) must show as the week's p50/p99 and as the two latency charts drawn.
//! `WEEKLY_REPORT_SCREENSHOT=docs/weekly-report.png` keeps it.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use stockbridge_aws::eventbridge::EventBridgeAlerts;
use stockbridge_aws::health_reports::{S3HealthReports, SqsDeadLetterDepth};
use stockbridge_core::ports::{hour_of, Histogram, HourDigest, Inbox, LatencyDigest};
use stockbridge_core::reconcile::{run_id, ReconcileReport};
use stockbridge_core::weekly::{WeeklyReporter, READY_DETAIL_TYPE};
use stockbridge_domain::ids::{LocationId, Timestamp};
use stockbridge_domain::variance::LocationTally;
use support::{level_body, stack, Stack, SECRET};

const HOUR: i64 = 3600 * 1_000_000_000;
/// Runs in the recorded week: every 4 hours for 7 days.
const RUNS: i64 = 42;
/// Days of the recorded week with a latency digest (1 to 6 days ago).
const RECORDED_DAYS: i64 = 6;

/// A histogram of `(latency ms, count)` pairs.
fn histogram(latencies: &[(f64, u64)]) -> Histogram {
    let mut h = Histogram::default();
    for (ms, count) in latencies {
        for _ in 0..*count {
            h.record(*ms);
        }
    }
    h
}

fn unique(name: &str) -> String {
    format!(
        "{name}-{}-{}",
        std::process::id(),
        Timestamp::now().0 % 1_000_000
    )
}

/// One recorded run: the shop floor drifts with the hours, the warehouse stays near 0.
fn recorded_run(at: Timestamp, n: i64) -> ReconcileReport {
    let floor = (n * 7) % 13;
    ReconcileReport {
        run: run_id(at),
        shop: support::SHOP.into(),
        started_at: at.to_rfc3339(),
        finished_at: at.to_rfc3339(),
        locations: vec![
            LocationTally {
                location: LocationId(1001),
                warehouse: Some("STORE".into()),
                items: 500,
                master_units: 1000,
                units_off: floor,
                variances: floor as u64,
                unmapped_items: 3,
                ..Default::default()
            },
            LocationTally {
                location: LocationId(1002),
                warehouse: Some("WH<main>".into()),
                items: 500,
                master_units: 4000,
                units_off: n % 3,
                ..Default::default()
            },
        ],
        items_compared: 1000,
        corrections_applied: floor as u64,
        corrections_held: u64::from(n == 20) * 4,
        corrections_failed: u64::from(n % 10 == 0),
        alert: n == 20,
        ..Default::default()
    }
}

/// A bus with a rule sending `WeeklyHealthReportReady` to a queue this test reads.
async fn announcement_bus(s: &Stack) -> (String, String) {
    let events = aws_sdk_eventbridge::Client::new(&s.sdk);
    let bus = unique("weekly-bus");
    events.create_event_bus().name(&bus).send().await.unwrap();
    let url = s
        .sqs
        .create_queue()
        .queue_name(unique("weekly-announced"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let arn = s
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let pattern = json!({"source": [stockbridge_aws::eventbridge::SOURCE], "detail-type": [READY_DETAIL_TYPE]});
    events
        .put_rule()
        .name("weekly-report")
        .event_bus_name(&bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .unwrap();
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("announced")
        .arn(arn)
        .build()
        .unwrap();
    events
        .put_targets()
        .rule("weekly-report")
        .event_bus_name(&bus)
        .targets(target)
        .send()
        .await
        .unwrap();
    (bus, url)
}

async fn announcements(s: &Stack, url: &str) -> Vec<serde_json::Value> {
    let out = s
        .sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    out.messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect()
}

/// The part of `dom` inside `<svg id="{id}" ...> ... </svg>`.
fn svg<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("<svg id=\"{id}\""))
        .unwrap_or_else(|| panic!("no svg #{id} in the DOM"));
    let rest = &dom[start..];
    &rest[..rest.find("</svg>").expect("svg closed")]
}

/// The `points` of every polyline in `chart`.
fn polyline_points(chart: &str) -> Vec<&str> {
    chart
        .split("<polyline")
        .skip(1)
        .map(|p| {
            let at = p.find("points=\"").expect("points") + 8;
            &p[at..at + p[at..].find('"').unwrap()]
        })
        .collect()
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let out = Command::new("which").arg(name).output().ok()?;
            let path = String::from_utf8(out.stdout).ok()?;
            (out.status.success() && !path.trim().is_empty()).then(|| PathBuf::from(path.trim()))
        })
}

fn headless(browser: &Path, profile: &Path, args: &[&str], page: &Path) -> std::process::Output {
    let out = Command::new("timeout")
        .arg("120")
        .arg(browser)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--hide-scrollbars",
            "--disable-dev-shm-usage",
            // The machine's network is closed: no background connections, no first-run work.
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A PNG's width and height (IHDR) and the summed length of its image data (IDAT chunks).
fn png_facts(png: &[u8]) -> (u32, u32, usize) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let (width, height) = (be(&png[16..20]), be(&png[20..24]));
    let (mut at, mut idat) = (8, 0);
    while at + 8 <= png.len() {
        let len = be(&png[at..at + 4]) as usize;
        if &png[at + 4..at + 8] == b"IDAT" {
            idat += len;
        }
        at += 12 + len;
    }
    (width, height, idat)
}

#[tokio::test]
async fn a_recorded_week_is_rendered_kept_announced_and_drawn_in_chromium() {
    let s = stack().await;
    let shop = s.shop();
    let now = Timestamp::now();

    // The recorded week, newest last, and one run before it that must not show.
    for n in 0..RUNS {
        let at = Timestamp(now.0 - (RUNS - n) * 4 * HOUR + HOUR);
        let report = recorded_run(at, n);
        let text = serde_json::to_string(&report).unwrap();
        s.store.put_report(&shop, &report.run, &text).await.unwrap();
    }
    let mut old = recorded_run(Timestamp(now.0 - 9 * 24 * HOUR), 99);
    old.locations[0].units_off = 900;
    s.store
        .put_report(&shop, &old.run, &serde_json::to_string(&old).unwrap())
        .await
        .unwrap();

    // The latency digest of six recorded days, each hour kept in two batches (two ADDs): per
    // day 98 applied in 64 ms and 2 in 4096 ms; 100 acknowledged by the ERP in 1024 ms.
    for day in 1..=RECORDED_DAYS {
        let hour = hour_of(Timestamp(now.0 - day * 24 * HOUR));
        for _ in 0..2 {
            let batch = HourDigest {
                hour: hour.clone(),
                applied: histogram(&[(64.0, 49), (4096.0, 1)]),
                erp: histogram(&[(1024.0, 50)]),
            };
            s.store.add_latency(&shop, &batch).await.unwrap();
        }
    }

    // Two unmapped levels parked, one unusable delivery quarantined, one dead letter.
    for (i, item) in [777_001u64, 777_002].iter().enumerate() {
        let body = level_body(*item, 1001, 5, "2026-11-30T10:00:00Z");
        let (status, _) = s
            .post(
                "inventory_levels/update",
                &body,
                SECRET,
                &format!("wh-unmapped-{i}"),
            )
            .await;
        assert_eq!(status, 200);
    }
    let (status, _) = s
        .post(
            "inventory_levels/update",
            "{not json",
            SECRET,
            "wh-bad-json",
        )
        .await;
    assert_eq!(status, 200, "an authentic unusable delivery is kept");
    s.drain().await;
    s.sqs
        .send_message()
        .queue_url(&s.dlq_url)
        .message_body("{}")
        .send()
        .await
        .unwrap();

    let (bus, announced) = announcement_bus(&s).await;
    let archive = S3HealthReports::new(&s.sdk, s.env["HEALTH_REPORT_BUCKET"].clone());
    let reporter = WeeklyReporter {
        shop: shop.clone(),
        store: s.store.clone(),
        archive: archive.clone(),
        dead_letters: SqsDeadLetterDepth::new(s.sqs.clone(), s.dlq_url.clone()),
        alerts: EventBridgeAlerts::new(aws_sdk_eventbridge::Client::new(&s.sdk), bus),
    };
    let kept = reporter.publish(now).await.expect("weekly report");
    assert_eq!(
        kept.runs, RUNS as usize,
        "the week's runs, not the older one"
    );
    assert!(kept.key.starts_with(&format!("weekly/{shop}/")));
    assert!(kept.key.ends_with(".html"));

    // Kept in S3 as HTML, with what the week held.
    let (page, content_type) = archive.fetch(&kept.key).await.expect("kept page");
    assert_eq!(content_type.as_deref(), Some("text/html; charset=utf-8"));
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(!page.contains("<script"), "no script");
    assert_eq!(
        page.matches("http").count(),
        page.matches("xmlns=\"http://www.w3.org/2000/svg\"").count(),
        "no address but the SVG namespace"
    );
    assert!(!page.contains("src="), "no external asset");
    assert!(page.contains("WH&lt;main&gt;") && !page.contains("WH<main>"));
    assert!(
        !page.contains("No data: latency"),
        "latency from the digest"
    );
    assert!(
        page.contains("sync latency p50<b>64 ms</b>"),
        "the week's p50"
    );
    assert!(
        page.contains("sync latency p99<b>4096 ms</b>"),
        "the week's p99"
    );
    assert!(page.contains("to ERP acknowledged p50<b>1024 ms</b>"));
    assert!(page.contains("p50 64 ms, p99 4096 ms over"));
    assert!(page.contains("upper bound of its digest bucket"));
    assert!(page.contains("item 777001") && page.contains("item 777002"));
    assert!(page.contains("quarantined: bad_json"));
    assert!(
        page.contains("dead-lettered<b>1</b>"),
        "the dead letter counted"
    );

    // Announced on the bus with the key.
    let events = announcements(&s, &announced).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail-type"], READY_DETAIL_TYPE);
    assert_eq!(events[0]["detail"]["key"], kept.key.as_str());
    assert_eq!(events[0]["detail"]["runs"], RUNS);
    assert_eq!(events[0]["detail"]["dlq_depth"], 1);
    assert_eq!(events[0]["detail"]["parked"], 2);

    // Drawn by a real browser.
    // infra/test.sh installs Debian's chromium when it is missing: no browser is a failure.
    let browser = chromium().expect(
        "no chromium, chromium-browser or google-chrome on PATH: run through infra/test.sh, \
         which installs Debian's chromium",
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("weekly.html");
    std::fs::write(&file, &page).unwrap();
    let profile = dir.path().join("profile");
    let dom = headless(&browser, &profile, &["--dump-dom"], &file);
    let dom = String::from_utf8(dom.stdout).unwrap();

    let variance = polyline_points(svg(&dom, "variance"));
    assert_eq!(variance.len(), 2, "one line per location");
    for points in &variance {
        assert_eq!(points.split(' ').count(), RUNS as usize, "a point per run");
    }
    let corrections = polyline_points(svg(&dom, "corrections"));
    assert_eq!(
        corrections.len(),
        5,
        "applied, planned, held, stale, failed"
    );
    assert!(corrections.iter().all(|p| !p.trim().is_empty()));
    assert_eq!(svg(&dom, "errors").matches("class=\"bar\"").count(), 3);
    assert_eq!(svg(&dom, "backlog").matches("class=\"bar\"").count(), 3);
    assert!(svg(&dom, "corrections-total").contains("class=\"bar\""));
    for id in ["latency", "erp-latency"] {
        let chart = svg(&dom, id);
        let lines = polyline_points(chart);
        assert_eq!(lines.len(), 2, "p50 and p99 in #{id}");
        for points in &lines {
            let n = points.split(' ').count() as i64;
            assert!(
                n >= RECORDED_DAYS,
                "a point per recorded day in #{id}: {points}"
            );
        }
        assert!(chart.contains(" ms<"), "values on the axis of #{id}");
    }
    let days = dom
        .split("<table id=\"latency-days\">")
        .nth(1)
        .expect("the daily latency table")
        .split("</table>")
        .next()
        .unwrap();
    assert!(
        days.matches("<td>64 ms</td><td>4096 ms</td>").count() >= RECORDED_DAYS as usize,
        "each recorded day's p50 and p99 shown: {days}"
    );

    let shot = dir.path().join("weekly.png");
    let arg = format!("--screenshot={}", shot.display());
    headless(&browser, &profile, &[&arg, "--window-size=1200,900"], &file);
    let png = std::fs::read(&shot).expect("screenshot written");
    let (width, height, idat) = png_facts(&png);
    assert_eq!((width, height), (1200, 900));

    // A blank page of the same size compresses to almost nothing; the report does not.
    let blank = dir.path().join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let blank_shot = dir.path().join("blank.png");
    let arg = format!("--screenshot={}", blank_shot.display());
    headless(
        &browser,
        &profile,
        &[&arg, "--window-size=1200,900"],
        &blank,
    );
    let (_, _, blank_idat) = png_facts(&std::fs::read(&blank_shot).unwrap());
    assert!(
        idat > 10 * blank_idat.max(1),
        "the screenshot looks blank: {idat} bytes of image data, a blank page has {blank_idat}"
    );
    if let Ok(keep) = std::env::var("WEEKLY_REPORT_SCREENSHOT") {
        std::fs::copy(&shot, support::repo_root().join(keep)).unwrap();
    }
}
