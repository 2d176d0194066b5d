//! The drills' Markdown reports: the figures each drill measured and the command that reproduces
//! it. (`drill reconcile` writes its own, beside its comparison.)

use crate::args::ErpArgs;
use crate::args::{Sent, WebhookArgs};
use crate::measure::Sorted;

/// What `drill erp` measured.
pub struct ErpFigures<'a> {
    pub args: &'a ErpArgs,
    pub applied: f64,
    /// Events on the hottest SKU.
    pub hottest: usize,
    pub sent_secs: f64,
    pub settled_secs: f64,
    pub writes: f64,
    pub lines: f64,
    pub applied_ms: Sorted,
    pub end_to_end_ms: Sorted,
    pub erp_call_ms: Sorted,
    /// SKUs where the ERP differs from DynamoDB.
    pub mismatches: usize,
    pub cpu_secs: f64,
}

impl ErpFigures<'_> {
    pub fn markdown(&self) -> String {
        let args = self.args;
        let event_count = args.events as f64;
        let (applied_ms, e2e, erp) = (&self.applied_ms, &self.end_to_end_ms, &self.erp_call_ms);
        format!(
            "## ERP drill: {events} events over {skus} SKUs (Zipf {zipf}), {consumers} consumers\n\n\
             Command: `cargo run --profile drill -p stockbridge-drill -- erp --events {events} --skus {skus} --zipf {zipf} --rate {rate} --consumers {consumers}`\n\
             (local stack up: `infra/local/stack.sh up`, then `set -a; . infra/local/.state/local.env; set +a`)\n\n\
             | figure | value |\n|---|---|\n\
             | events sent / applied | {events} / {applied} |\n\
             | hottest SKU's share | {hot:.1} % ({hottest} events) |\n\
             | offered rate | {rate} events/s (all sent in {sent:.1} s) |\n\
             | events per second through the consumer (sent → all settled in the ERP) | {eps:.0} |\n\
             | ERP writes (documents) | {writes} ({wpe:.4} per event) |\n\
             | ERP lines | {lines} ({lpe:.4} per event) |\n\
             | DynamoDB applied latency p50 / p99 | {ap50:.0} ms / {ap99:.0} ms |\n\
             | end-to-end latency (enqueued → ERP acknowledged) p50 / p99 / max | {p50:.0} ms / {p99:.0} ms / {max:.0} ms |\n\
             | one ERP call p50 / p99 | {c50:.0} ms / {c99:.0} ms |\n\
             | SKUs where ERP ≠ DynamoDB | {bad} |\n\
             | drill process CPU per event (consumers, producer and checks together) | {cpu_us:.0} µs |\n\n\
             End-to-end latency is measured per ERP line from the *oldest* event it settles, so it is an \
             upper bound for the events coalesced into it. The local AWS emulator (moto) and SQLite \
             Tryton are the ceilings here, not the consumer: see docs/PERFORMANCE.md.\n",
            events = args.events, skus = args.skus, zipf = args.zipf, consumers = args.consumers, rate = args.rate,
            applied = self.applied, hottest = self.hottest, writes = self.writes, lines = self.lines,
            hot = 100.0 * self.hottest as f64 / event_count, sent = self.sent_secs,
            eps = event_count / self.settled_secs, wpe = self.writes / event_count, lpe = self.lines / event_count,
            ap50 = applied_ms.p(0.5), ap99 = applied_ms.p(0.99),
            p50 = e2e.p(0.5), p99 = e2e.p(0.99), max = e2e.max(),
            c50 = erp.p(0.5), c99 = erp.p(0.99),
            bad = self.mismatches,
            cpu_us = self.cpu_secs * 1e6 / event_count,
        )
    }
}

/// What `drill webhooks --url` saw as the sender.
pub struct RemoteFigures<'a> {
    pub args: &'a WebhookArgs,
    pub url: &'a str,
    pub sent: &'a Sent,
    pub took_secs: f64,
}

impl RemoteFigures<'_> {
    pub fn markdown(&self) -> String {
        let (args, sent) = (self.args, self.sent);
        let ms = &sent.response_ms;
        format!(
            "# Webhook load against {url}\n\n\
             Command: `DRILL_WEBHOOK_SECRET=... cargo run --profile drill -p stockbridge-drill -- webhooks --url {url} --shop {shop} --rate {rate} --seconds {secs} --skus {skus}`\n\n\
             | figure | value |\n|---|---|\n\
             | webhooks sent | {n} ({mix}) |\n\
             | answers | {statuses} (accepted {accepted}, other {other}) |\n\
             | response time p50 / p99 / max | {p50:.1} / {p99:.1} / {max:.1} ms |\n\
             | sending took | {took:.1} s |\n\n\
             Only the sender's view: check the deployment's metrics (`EndToEndLatencyMs`, queue age) and \
             `stockbridge stock show` for what was applied. Items the shop's SKU map lacks are parked.\n",
            url = self.url,
            shop = args.shop, rate = args.rate, secs = args.seconds, skus = args.skus,
            n = sent.n, mix = sent.mix_text(), statuses = sent.status_text(),
            accepted = sent.accepted(), other = sent.n - sent.accepted(),
            p50 = ms.p(0.5), p99 = ms.p(0.99), max = ms.max(),
            took = self.took_secs,
        )
    }
}

/// What `drill webhooks` measured through the private local stack.
pub struct LocalFigures<'a> {
    pub args: &'a WebhookArgs,
    pub sent: &'a Sent,
    pub server_ms: Sorted,
    pub applied_ms: Sorted,
    pub end_to_end_ms: Sorted,
    pub applied: f64,
    pub duplicates: f64,
    pub max_depth: f64,
    pub sent_secs: f64,
    pub settled_secs: f64,
    pub dynamo_calls: f64,
    pub erp_documents: f64,
    pub erp_calls: f64,
    /// SKUs where DynamoDB or the ERP differ from the generator's model.
    pub wrong: usize,
}

impl LocalFigures<'_> {
    pub fn markdown(&self) -> String {
        let (args, sent) = (self.args, self.sent);
        let event_count = sent.n as f64;
        let (response, server) = (&sent.response_ms, &self.server_ms);
        let (applied_ms, e2e) = (&self.applied_ms, &self.end_to_end_ms);
        format!(
            "# Black Friday drill: {rate} webhooks/s for {secs} s\n\n\
             Command: `infra/local/stack.sh up && set -a && . infra/local/.state/local.env && set +a && \
             cargo run --profile drill -p stockbridge-drill -- webhooks --rate {rate} --seconds {secs} --skus {skus} --consumers {consumers} --out-dir docs/drill`\n\n\
             Everything ran on this machine (2 cores): the webhook router on a loopback port, {consumers} stock consumers \
             with the Lambda event source's semantics, moto for SQS and DynamoDB, Tryton 8.2 on SQLite. \
             Private tables and queue were provisioned from template.yaml for the run.\n\n\
             | figure | value |\n|---|---|\n\
             | webhooks sent | {n} ({mix}) |\n\
             | answers | {statuses} (accepted {accepted}, rejected {rejected}) |\n\
             | events applied / duplicates | {applied} / {duplicates} |\n\
             | webhook response time, client side, p50 / p99 / max | {r50:.1} / {r99:.1} / {rmax:.1} ms |\n\
             | webhook handler time, server side, p50 / p99 | {s50:.2} / {s99:.2} ms |\n\
             | received → DynamoDB applied p50 / p95 / p99 / max | {a50:.0} / {a95:.0} / {a99:.0} / {amax:.0} ms |\n\
             | received → ERP acknowledged (per ERP line, oldest event) p50 / p95 / p99 / max | {e50:.0} / {e95:.0} / {e99:.0} / {emax:.0} ms |\n\
             | queue depth max | {max_depth:.0} messages |\n\
             | sending took / all settled after | {sent_in:.1} s / {settled_in:.1} s |\n\
             | DynamoDB requests per event | {dpe:.2} |\n\
             | ERP documents per event / ERP apply calls per event | {epe:.4} / {cpe:.4} |\n\
             | SKUs where DynamoDB or the ERP differ from the generator's model | {wrong} |\n\n\
             ![latency over time](latency.svg)\n",
            rate = args.rate, secs = args.seconds, skus = args.skus, consumers = args.consumers,
            n = sent.n, mix = sent.mix_text(), statuses = sent.status_text(),
            accepted = sent.accepted(), rejected = sent.n - sent.accepted(),
            applied = self.applied, duplicates = self.duplicates,
            r50 = response.p(0.5), r99 = response.p(0.99), rmax = response.max(),
            s50 = server.p(0.5), s99 = server.p(0.99),
            a50 = applied_ms.p(0.5), a95 = applied_ms.p(0.95), a99 = applied_ms.p(0.99), amax = applied_ms.max(),
            e50 = e2e.p(0.5), e95 = e2e.p(0.95), e99 = e2e.p(0.99), emax = e2e.max(),
            max_depth = self.max_depth, sent_in = self.sent_secs, settled_in = self.settled_secs,
            dpe = self.dynamo_calls / event_count, epe = self.erp_documents / event_count, cpe = self.erp_calls / event_count,
            wrong = self.wrong,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    const RENAMED: &str = "cargo run --profile drill -p stockbridge-drill -- ";

    #[test]
    fn the_erp_report_names_the_renamed_package() {
        let args = ErpArgs::try_parse_from(["erp", "--events", "10", "--skus", "2"]).unwrap();
        let report = ErpFigures {
            args: &args,
            applied: 10.0,
            hottest: 6,
            sent_secs: 0.1,
            settled_secs: 2.0,
            writes: 4.0,
            lines: 5.0,
            applied_ms: Sorted::new(vec![1.0, 2.0]),
            end_to_end_ms: Sorted::new(vec![]),
            erp_call_ms: Sorted::new(vec![3.0]),
            mismatches: 0,
            cpu_secs: 0.01,
        }
        .markdown();
        assert!(report.contains(&format!("{RENAMED}erp --events 10 --skus 2 --zipf 1.1")));
        assert!(report.contains("| events sent / applied | 10 / 10 |"));
        assert!(report.contains("| hottest SKU's share | 60.0 % (6 events) |"));
        assert!(report.contains("p50 / p99 / max | NaN ms / NaN ms / NaN ms |"));
    }

    #[test]
    fn the_webhook_reports_name_the_renamed_package() {
        let args = WebhookArgs::try_parse_from(["webhooks", "--rate", "5"]).unwrap();
        let sent = Sent::for_tests(3, &[(200, 2), (401, 1)]);
        let remote = RemoteFigures {
            args: &args,
            url: "https://example.com/hook",
            sent: &sent,
            took_secs: 1.0,
        }
        .markdown();
        assert!(remote.contains(&format!("{RENAMED}webhooks --url https://example.com/hook")));
        assert!(remote.contains("| answers | 200: 2, 401: 1 (accepted 2, other 1) |"));
        let local = LocalFigures {
            args: &args,
            sent: &sent,
            server_ms: Sorted::new(vec![]),
            applied_ms: Sorted::new(vec![]),
            end_to_end_ms: Sorted::new(vec![]),
            applied: 3.0,
            duplicates: 0.0,
            max_depth: 2.0,
            sent_secs: 1.0,
            settled_secs: 3.0,
            dynamo_calls: 6.0,
            erp_documents: 1.0,
            erp_calls: 1.0,
            wrong: 0,
        }
        .markdown();
        assert!(local.contains(&format!("{RENAMED}webhooks --rate 5 --seconds 120")));
        assert!(local.contains("| DynamoDB requests per event | 2.00 |"));
    }
}
