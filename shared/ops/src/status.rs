//! The verdict of `stockbridge status`: what was observed of a deployment ([`Observations`],
//! gathered by the command through the real adapters) judged against [`Thresholds`] into
//! `healthy`, `degraded` or `failing`, each with its reasons ([`assess`]). Pure: no port is
//! called here, so every rule is unit-tested.
//!
//! The rules (also in `stockbridge status --help` and README "Operating"):
//!
//! **failing** (exit 2): stock is going wrong and someone must act now.
//! - the ERP is unreachable or refuses a read of one mapped item (the consumer cannot tell it
//!   anything either);
//! - the dead-letter queue holds a message older than [`Thresholds::dlq_grace`] (15 min: the
//!   DLQ alarm fires at the first message; a dead letter nobody redrove within 15 minutes is an
//!   event that will not be applied);
//! - the newest reconciliation report raised the alert (variance over `RECONCILE_THRESHOLD_PCT`),
//!   or is older than [`Thresholds::report_stale`] (30 min: three missed 10-minute runs; a
//!   failed run stores no report, so a stale report is how a failing reconcile shows);
//! - a webhook subscription Stockbridge needs is missing or delivers elsewhere, or a needed
//!   access scope is not granted (webhooks or reads are lost);
//!
//! **degraded** (exit 1): working, but behind or needing an operator soon.
//! - events queue backlog over [`Thresholds::backlog`] visible messages (1,000: ten full
//!   consumer batches of 100 waiting), or its oldest message over
//!   [`Thresholds::oldest_event`] (5 min, as the queue-age alarm) when known;
//! - dead letters younger than the grace (or of unknown age);
//! - ERP writes parked after repeated refusals (any: as the `erp-write-parked` alarm), or debt to
//!   the ERP older than [`Thresholds::debt_age`] (15 min, as the oldest-debt alarm);
//! - parked events or quarantined deliveries growing: any new within [`Thresholds::recent`]
//!   (1 h); older ones are shown but do not degrade (they wait for a mapping or a fix);
//! - stock records unsettled (on hand unexplained) for longer than [`Thresholds::unsettled`]
//!   (30 min: the consumer's refresh or the next reconcile should have explained them);
//! - the newest report's variance under the alert threshold but not 0, or corrections that
//!   failed;
//! - extra webhook subscriptions or ones of another API version;
//! - a check that could not be made (its reason is given): unknown is not healthy.
//!
//! **healthy** (exit 0): none of the above. No reconciliation report yet (a fresh deployment)
//! is shown but is not a reason.

use serde::Serialize;

use stockbridge_domain::ids::Timestamp;

/// Where each rule draws its line (see the module doc for why each value).
#[derive(Clone, Debug, Serialize)]
pub struct Thresholds {
    /// Visible messages on the events queue.
    pub backlog: u64,
    /// Seconds the oldest event may wait on the events queue.
    pub oldest_event: i64,
    /// Seconds a dead letter may wait before the deployment is failing.
    pub dlq_grace: i64,
    /// Seconds a debt to the ERP may stay unpaid.
    pub debt_age: i64,
    /// Seconds within which a parked event or quarantined delivery counts as new.
    pub recent: i64,
    /// Seconds a stock record may stay unsettled.
    pub unsettled: i64,
    /// Seconds after which the newest reconciliation report is stale.
    pub report_stale: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            backlog: 1_000,
            oldest_event: 300,
            dlq_grace: 900,
            debt_age: 900,
            recent: 3_600,
            unsettled: 1_800,
            report_stale: 1_800,
        }
    }
}

/// One check's result: what was seen, or why it was not looked at.
#[derive(Clone, Debug, PartialEq, Serialize)]
/// As JSON: `{"checked": "seen", "value": ...}`, `{"checked": "not_checked", "value": {"why"}}`,
/// `{"checked": "failed", "value": {"error"}}`.
#[serde(tag = "checked", content = "value", rename_all = "snake_case")]
pub enum Checked<T> {
    Seen(T),
    /// Deliberately not looked at (e.g. nothing to check it with); the reason says why.
    NotChecked {
        why: String,
    },
    /// The look failed (the adapter's error).
    Failed {
        error: String,
    },
}

/// A queue's approximate counts (SQS `GetQueueAttributes`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QueueGauge {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
    /// Send time of the oldest message seen, when it could be seen.
    pub oldest_sent: Option<Timestamp>,
    /// Why there is no `oldest_sent` (e.g. not peeked: see the command).
    pub oldest_unknown: Option<String>,
}

impl QueueGauge {
    pub fn total(&self) -> u64 {
        self.visible + self.in_flight + self.delayed
    }
}

/// The ERP as one cheap read sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "erp", rename_all = "snake_case")]
pub enum ErpReach {
    /// Read the on-hand of `item` at `warehouse`.
    Reachable { warehouse: String, item: String },
    /// No answer (connection refused, timeout, 5xx) or throttled.
    Unreachable { error: String },
    /// Answered with a refusal (credentials, unknown warehouse).
    Refused { error: String },
}

/// What the shop's stock records owe and leave unexplained.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StockDebt {
    pub records: u64,
    /// Records with a debt to the ERP.
    pub owing: u64,
    /// Sum of the debts' sizes, Shopify units.
    pub units_owed: i64,
    pub oldest_debt_since: Option<Timestamp>,
    /// ERP writes parked after repeated refusals.
    pub parked_writes: u64,
    pub unsettled: u64,
    pub oldest_unsettled_since: Option<Timestamp>,
}

/// Entries of one inbox list: all, and how many arrived within [`Thresholds::recent`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct InboxCount {
    pub total: u64,
    pub recent: u64,
}

/// The newest reconciliation report, as far as the verdict needs it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LastReport {
    pub run: String,
    pub finished_at: Option<Timestamp>,
    pub alert: bool,
    pub alert_reasons: Vec<String>,
    pub locations: Vec<LocationVariance>,
    pub total_variance_pct: f64,
    pub corrections_failed: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LocationVariance {
    pub location: u64,
    pub warehouse: Option<String>,
    pub units_off: i64,
    pub variance_pct: f64,
}

/// Everything `status` looked at, at `at`.
#[derive(Clone, Debug, Serialize)]
pub struct Observations {
    pub at: Timestamp,
    pub shop: String,
    pub events_queue: Checked<QueueGauge>,
    pub dead_letters: Checked<QueueGauge>,
    pub erp: Checked<ErpReach>,
    pub stock: Checked<StockDebt>,
    pub parked_events: Checked<InboxCount>,
    pub quarantined: Checked<InboxCount>,
    /// `Seen(None)`: no report stored yet.
    pub last_report: Checked<Option<LastReport>>,
    pub subscriptions: Checked<SubscriptionFindings>,
}

/// What the webhook subscription check found, one line each (both empty: as needed).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SubscriptionFindings {
    /// Needed topics whose webhooks do not reach us (missing, other address) and scopes not
    /// granted.
    pub missing: Vec<String>,
    /// Differences that lose nothing: extra subscriptions, other API versions.
    pub other: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Healthy,
    Degraded,
    Failing,
}

impl Verdict {
    /// 0 healthy, 1 degraded, 2 failing.
    pub fn exit_code(self) -> u8 {
        self as u8
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Degraded => "degraded",
            Verdict::Failing => "failing",
        }
    }
}

/// One reason for the verdict: which check and what it found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reason {
    pub severity: Verdict,
    pub check: &'static str,
    pub text: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Health {
    pub verdict: Verdict,
    /// Worst first.
    pub reasons: Vec<Reason>,
}

/// Judges `seen` by the module's rules.
pub fn assess(seen: &Observations, limits: &Thresholds) -> Health {
    let mut r = Reasons {
        now: seen.at,
        list: Vec::new(),
    };
    r.events_queue(&seen.events_queue, limits);
    r.dead_letters(&seen.dead_letters, limits);
    r.erp(&seen.erp);
    r.stock(&seen.stock, limits);
    r.inbox("parked events", &seen.parked_events, limits);
    r.inbox("quarantine", &seen.quarantined, limits);
    r.report(&seen.last_report, limits);
    r.subscriptions(&seen.subscriptions);
    let mut reasons = r.list;
    reasons.sort_by_key(|r| std::cmp::Reverse(r.severity));
    Health {
        verdict: reasons
            .first()
            .map_or(Verdict::Healthy, |reason| reason.severity),
        reasons,
    }
}

/// Whole seconds from `since` to `now` (0 if `since` is later).
pub fn age_secs(now: Timestamp, since: Timestamp) -> i64 {
    ((now.0 - since.0) / 1_000_000_000).max(0)
}

/// `42s`, `7m`, `1h`, `3h12m`, `2d4h`.
pub fn human_age(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3_600 => format!("{}m", s / 60),
        s if s < 86_400 && s % 3_600 < 60 => format!("{}h", s / 3_600),
        s if s < 86_400 => format!("{}h{:02}m", s / 3_600, s % 3_600 / 60),
        s => format!("{}d{}h", s / 86_400, s % 86_400 / 3_600),
    }
}

struct Reasons {
    now: Timestamp,
    list: Vec<Reason>,
}

impl Reasons {
    fn add(&mut self, severity: Verdict, check: &'static str, text: String) {
        self.list.push(Reason {
            severity,
            check,
            text,
        });
    }

    fn age(&self, since: Timestamp) -> i64 {
        age_secs(self.now, since)
    }

    /// The value when seen; a failed look is a degraded reason; not checked is no reason.
    fn seen<'a, T>(&mut self, check: &'static str, c: &'a Checked<T>) -> Option<&'a T> {
        match c {
            Checked::Seen(v) => Some(v),
            Checked::NotChecked { .. } => None,
            Checked::Failed { error } => {
                self.add(
                    Verdict::Degraded,
                    check,
                    format!("could not check: {error}"),
                );
                None
            }
        }
    }

    fn events_queue(&mut self, c: &Checked<QueueGauge>, limits: &Thresholds) {
        let Some(q) = self.seen("events queue", c) else {
            return;
        };
        if q.visible > limits.backlog {
            self.add(
                Verdict::Degraded,
                "events queue",
                format!(
                    "{} messages waiting (over {}): the consumer is behind",
                    q.visible, limits.backlog
                ),
            );
        }
        if let Some(sent) = q.oldest_sent {
            let age = self.age(sent);
            if age > limits.oldest_event {
                self.add(
                    Verdict::Degraded,
                    "events queue",
                    format!("oldest event waits {}", human_age(age)),
                );
            }
        }
    }

    fn dead_letters(&mut self, c: &Checked<QueueGauge>, limits: &Thresholds) {
        let Some(q) = self.seen("dead letters", c) else {
            return;
        };
        if q.total() == 0 {
            return;
        }
        let what = format!(
            "{} events dead-lettered (not applied); `stockbridge dlq list`",
            q.total()
        );
        match q.oldest_sent.map(|t| self.age(t)) {
            Some(age) if age > limits.dlq_grace => self.add(
                Verdict::Failing,
                "dead letters",
                format!("{what}; oldest sent {} ago", human_age(age)),
            ),
            Some(age) => self.add(
                Verdict::Degraded,
                "dead letters",
                format!("{what}; oldest sent {} ago", human_age(age)),
            ),
            None => self.add(
                Verdict::Degraded,
                "dead letters",
                format!("{what}; age unknown"),
            ),
        }
    }

    fn erp(&mut self, c: &Checked<ErpReach>) {
        let Some(reach) = self.seen("ERP", c) else {
            return;
        };
        match reach {
            ErpReach::Reachable { .. } => {}
            ErpReach::Unreachable { error } => {
                self.add(Verdict::Failing, "ERP", format!("unreachable: {error}"))
            }
            ErpReach::Refused { error } => {
                self.add(Verdict::Failing, "ERP", format!("refused a read: {error}"))
            }
        }
    }

    fn stock(&mut self, c: &Checked<StockDebt>, limits: &Thresholds) {
        let Some(s) = self.seen("stock", c) else {
            return;
        };
        if s.parked_writes > 0 {
            self.add(
                Verdict::Degraded,
                "ERP",
                format!(
                    "{} ERP writes parked after repeated refusals; `stockbridge erp parked`",
                    s.parked_writes
                ),
            );
        }
        if let Some(since) = s.oldest_debt_since {
            let age = self.age(since);
            if age > limits.debt_age {
                self.add(
                    Verdict::Degraded,
                    "ERP",
                    format!(
                        "{} units owed over {} records, oldest for {}",
                        s.units_owed,
                        s.owing,
                        human_age(age)
                    ),
                );
            }
        }
        if let Some(since) = s.oldest_unsettled_since {
            let age = self.age(since);
            if age > limits.unsettled {
                self.add(
                    Verdict::Degraded,
                    "stock",
                    format!(
                        "{} records with on hand unexplained, oldest for {}",
                        s.unsettled,
                        human_age(age)
                    ),
                );
            }
        }
    }

    fn inbox(&mut self, check: &'static str, c: &Checked<InboxCount>, limits: &Thresholds) {
        let Some(n) = self.seen(check, c) else {
            return;
        };
        if n.recent > 0 {
            self.add(
                Verdict::Degraded,
                check,
                format!(
                    "growing: {} new in the last {} ({} in all)",
                    n.recent,
                    human_age(limits.recent),
                    n.total
                ),
            );
        }
    }

    fn report(&mut self, c: &Checked<Option<LastReport>>, limits: &Thresholds) {
        let Some(Some(report)) = self.seen("reconcile", c) else {
            return;
        };
        if report.alert {
            let why = if report.alert_reasons.is_empty() {
                String::new()
            } else {
                format!(": {}", report.alert_reasons.join("; "))
            };
            self.add(
                Verdict::Failing,
                "reconcile",
                format!("run {} raised the alert{why}", report.run),
            );
        } else if let Some(worst) = report
            .locations
            .iter()
            .filter(|l| l.units_off != 0)
            .max_by(|a, b| a.variance_pct.total_cmp(&b.variance_pct))
        {
            self.add(
                Verdict::Degraded,
                "reconcile",
                format!(
                    "variance under the alert threshold but not 0: {} (location {}) {} units off ({:.2} %)",
                    worst.warehouse.as_deref().unwrap_or("-"),
                    worst.location,
                    worst.units_off,
                    worst.variance_pct
                ),
            );
        }
        if report.corrections_failed > 0 {
            self.add(
                Verdict::Degraded,
                "reconcile",
                format!(
                    "{} corrections failed in run {}",
                    report.corrections_failed, report.run
                ),
            );
        }
        match report.finished_at.map(|t| self.age(t)) {
            Some(age) if age > limits.report_stale => self.add(
                Verdict::Failing,
                "reconcile",
                format!(
                    "newest report is {} old: runs are failing or not scheduled",
                    human_age(age)
                ),
            ),
            Some(_) => {}
            None => self.add(
                Verdict::Degraded,
                "reconcile",
                format!("report {} has no readable finish time", report.run),
            ),
        }
    }

    fn subscriptions(&mut self, c: &Checked<SubscriptionFindings>) {
        let Some(found) = self.seen("subscriptions", c) else {
            return;
        };
        for p in &found.missing {
            self.add(Verdict::Failing, "subscriptions", p.clone());
        }
        for p in &found.other {
            self.add(Verdict::Degraded, "subscriptions", p.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_800_000_000 * 1_000_000_000);

    fn ago(secs: i64) -> Timestamp {
        Timestamp(NOW.0 - secs * 1_000_000_000)
    }

    fn fine() -> Observations {
        Observations {
            at: NOW,
            shop: "a.myshopify.com".into(),
            events_queue: Checked::Seen(QueueGauge::default()),
            dead_letters: Checked::Seen(QueueGauge::default()),
            erp: Checked::Seen(ErpReach::Reachable {
                warehouse: "WH".into(),
                item: "TEE".into(),
            }),
            stock: Checked::Seen(StockDebt::default()),
            parked_events: Checked::Seen(InboxCount::default()),
            quarantined: Checked::Seen(InboxCount::default()),
            last_report: Checked::Seen(Some(LastReport {
                run: "r-1".into(),
                finished_at: Some(ago(60)),
                ..LastReport::default()
            })),
            subscriptions: Checked::NotChecked {
                why: "no check".into(),
            },
        }
    }

    fn judge(seen: &Observations) -> Health {
        assess(seen, &Thresholds::default())
    }

    fn checks(h: &Health) -> Vec<(Verdict, &'static str)> {
        h.reasons.iter().map(|r| (r.severity, r.check)).collect()
    }

    #[test]
    fn nothing_wrong_is_healthy_and_exits_0() {
        let h = judge(&fine());
        assert_eq!(h.verdict, Verdict::Healthy);
        assert!(h.reasons.is_empty());
        assert_eq!(h.verdict.exit_code(), 0);
        let mut fresh = fine();
        fresh.last_report = Checked::Seen(None);
        assert_eq!(judge(&fresh).verdict, Verdict::Healthy);
    }

    #[test]
    fn an_unreachable_erp_is_failing_and_exits_2() {
        let mut seen = fine();
        seen.erp = Checked::Seen(ErpReach::Unreachable {
            error: "connection refused".into(),
        });
        let h = judge(&seen);
        assert_eq!(h.verdict, Verdict::Failing);
        assert_eq!(h.verdict.exit_code(), 2);
        assert_eq!(h.reasons[0].text, "unreachable: connection refused");
    }

    #[test]
    fn a_dead_letter_degrades_then_fails_after_the_grace() {
        let mut seen = fine();
        let dlq = |sent| {
            Checked::Seen(QueueGauge {
                visible: 1,
                oldest_sent: sent,
                ..QueueGauge::default()
            })
        };
        seen.dead_letters = dlq(Some(ago(60)));
        assert_eq!(checks(&judge(&seen)), [(Verdict::Degraded, "dead letters")]);
        seen.dead_letters = dlq(None);
        assert_eq!(checks(&judge(&seen)), [(Verdict::Degraded, "dead letters")]);
        seen.dead_letters = dlq(Some(ago(901)));
        let h = judge(&seen);
        assert_eq!(checks(&h), [(Verdict::Failing, "dead letters")]);
        assert!(h.reasons[0].text.contains("oldest sent 15m ago"), "{h:?}");
    }

    #[test]
    fn a_backlog_over_the_threshold_degrades() {
        let mut seen = fine();
        seen.events_queue = Checked::Seen(QueueGauge {
            visible: 1_000,
            ..QueueGauge::default()
        });
        assert_eq!(judge(&seen).verdict, Verdict::Healthy);
        seen.events_queue = Checked::Seen(QueueGauge {
            visible: 1_001,
            ..QueueGauge::default()
        });
        assert_eq!(checks(&judge(&seen)), [(Verdict::Degraded, "events queue")]);
    }

    #[test]
    fn parked_writes_old_debt_and_long_unsettled_records_degrade() {
        let mut seen = fine();
        seen.stock = Checked::Seen(StockDebt {
            owing: 2,
            units_owed: 5,
            oldest_debt_since: Some(ago(899)),
            unsettled: 1,
            oldest_unsettled_since: Some(ago(1_799)),
            ..StockDebt::default()
        });
        assert_eq!(judge(&seen).verdict, Verdict::Healthy);
        seen.stock = Checked::Seen(StockDebt {
            owing: 2,
            units_owed: 5,
            oldest_debt_since: Some(ago(901)),
            parked_writes: 1,
            unsettled: 1,
            oldest_unsettled_since: Some(ago(1_801)),
            ..StockDebt::default()
        });
        let h = judge(&seen);
        assert_eq!(
            checks(&h),
            [
                (Verdict::Degraded, "ERP"),
                (Verdict::Degraded, "ERP"),
                (Verdict::Degraded, "stock")
            ]
        );
        assert_eq!(h.verdict.exit_code(), 1);
    }

    #[test]
    fn only_new_parked_or_quarantined_entries_degrade() {
        let mut seen = fine();
        seen.parked_events = Checked::Seen(InboxCount {
            total: 4,
            recent: 0,
        });
        assert_eq!(judge(&seen).verdict, Verdict::Healthy);
        seen.quarantined = Checked::Seen(InboxCount {
            total: 4,
            recent: 1,
        });
        let h = judge(&seen);
        assert_eq!(checks(&h), [(Verdict::Degraded, "quarantine")]);
        assert_eq!(
            h.reasons[0].text,
            "growing: 1 new in the last 1h (4 in all)"
        );
    }

    #[test]
    fn the_report_fails_on_alert_or_staleness_and_degrades_on_small_variance() {
        let report = |alert, units_off, finished| {
            Checked::Seen(Some(LastReport {
                run: "r-1".into(),
                finished_at: finished,
                alert,
                alert_reasons: vec!["WH over 2 %".into()],
                locations: vec![LocationVariance {
                    location: 72,
                    warehouse: Some("WH".into()),
                    units_off,
                    variance_pct: 0.5,
                }],
                ..LastReport::default()
            }))
        };
        let mut seen = fine();
        seen.last_report = report(false, 0, Some(ago(60)));
        assert_eq!(judge(&seen).verdict, Verdict::Healthy);
        seen.last_report = report(false, 3, Some(ago(60)));
        assert_eq!(checks(&judge(&seen)), [(Verdict::Degraded, "reconcile")]);
        seen.last_report = report(true, 300, Some(ago(60)));
        let h = judge(&seen);
        assert_eq!(checks(&h), [(Verdict::Failing, "reconcile")]);
        assert_eq!(h.reasons[0].text, "run r-1 raised the alert: WH over 2 %");
        seen.last_report = report(false, 0, Some(ago(1_801)));
        assert_eq!(checks(&judge(&seen)), [(Verdict::Failing, "reconcile")]);
    }

    #[test]
    fn a_missing_subscription_fails_and_a_failed_check_degrades() {
        let mut seen = fine();
        seen.subscriptions = Checked::Seen(SubscriptionFindings {
            missing: vec!["missing: inventory_levels/update".into()],
            other: vec!["extra: products/update".into()],
        });
        assert_eq!(
            checks(&judge(&seen)),
            [
                (Verdict::Failing, "subscriptions"),
                (Verdict::Degraded, "subscriptions")
            ]
        );
        seen.subscriptions = Checked::Seen(SubscriptionFindings::default());
        assert_eq!(judge(&seen).verdict, Verdict::Healthy);
        let mut seen = fine();
        seen.dead_letters = Checked::Failed {
            error: "access denied".into(),
        };
        let h = judge(&seen);
        assert_eq!(checks(&h), [(Verdict::Degraded, "dead letters")]);
        assert_eq!(h.reasons[0].text, "could not check: access denied");
    }

    #[test]
    fn reasons_come_worst_first() {
        let mut seen = fine();
        seen.quarantined = Checked::Seen(InboxCount {
            total: 1,
            recent: 1,
        });
        seen.erp = Checked::Seen(ErpReach::Refused {
            error: "HTTP 401".into(),
        });
        let h = judge(&seen);
        assert_eq!(
            checks(&h),
            [(Verdict::Failing, "ERP"), (Verdict::Degraded, "quarantine")]
        );
    }

    #[test]
    fn every_observation_serialises_with_what_was_checked() {
        let mut seen = fine();
        seen.last_report = Checked::Seen(None);
        let json = serde_json::to_value(&seen).unwrap();
        assert_eq!(json["last_report"]["checked"], "seen");
        assert!(json["last_report"]["value"].is_null());
        assert_eq!(json["erp"]["value"]["erp"], "reachable");
        assert_eq!(json["subscriptions"]["checked"], "not_checked");
        assert_eq!(json["subscriptions"]["value"]["why"], "no check");
    }

    #[test]
    fn ages_read_as_minutes_hours_and_days() {
        assert_eq!(human_age(42), "42s");
        assert_eq!(human_age(420), "7m");
        assert_eq!(human_age(3_600), "1h");
        assert_eq!(human_age(3 * 3_600 + 12 * 60), "3h12m");
        assert_eq!(human_age(2 * 86_400 + 4 * 3_600), "2d4h");
        assert_eq!(age_secs(NOW, ago(-5)), 0);
        assert_eq!(age_secs(NOW, ago(5)), 5);
    }
}
