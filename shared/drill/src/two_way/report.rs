//! What `drill two-way` measured, checked and wrote: the changes applied exactly once (by the
//! stand-in's log of the sync's adjustments) and the report's Markdown.

use std::collections::BTreeMap;

use super::{Change, TwoWayArgs};
use crate::measure::Sorted;

/// How the changes reached Shopify, by the sync's adjustments at the warehouse.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Applied {
    /// One adjustment set the change's figure.
    pub(super) once: usize,
    /// None did: a later change of the item was read in the same poll and carried both.
    pub(super) folded: usize,
    /// More than one did.
    pub(super) doubled: usize,
    /// Adjustments in all.
    pub(super) adjustments: usize,
}

/// Counts, per change, the sync's adjustments (`after` figures per inventory item) that set
/// its figure: a change's figure is distinct per item, so one adjustment is one application.
pub(super) fn applied(changes: &[Change], ours: &BTreeMap<u64, Vec<i64>>, base: u64) -> Applied {
    let mut out = Applied {
        adjustments: ours.values().map(Vec::len).sum(),
        ..Applied::default()
    };
    for c in changes {
        let n = ours
            .get(&(base + c.item as u64))
            .map_or(0, |a| a.iter().filter(|after| **after == c.count).count());
        match n {
            0 => out.folded += 1,
            1 => out.once += 1,
            _ => out.doubled += 1,
        }
    }
    out
}

/// What `drill two-way` measured.
pub(super) struct TwoWayFigures<'a> {
    pub(super) args: &'a TwoWayArgs,
    /// The Tryton call returned → the stand-in first seen showing the figure (ms).
    pub(super) erp_to_seen: Sorted,
    /// The sync's `ErpToShopifyMs`: the Shopify write − the move's done time (ms).
    pub(super) erp_to_shopify: Sorted,
    /// The poller's polls and their `ErpPollMs` (one Tryton read, queueing, the cursor).
    pub(super) polls: (usize, Sorted),
    /// Samples in `erp_to_seen` and in `erp_to_shopify`.
    pub(super) counts: (usize, usize),
    /// The generator's run (first change → last call returned) and first change → all seen.
    pub(super) generated_secs: f64,
    pub(super) settled_secs: f64,
    pub(super) applied: Applied,
    /// Admin API GraphQL requests (the stand-in's count, sync and consumer) and points charged
    /// (the clients' `points_spent`): the sync's, the consumer's on the echoes.
    pub(super) graphql_requests: f64,
    pub(super) throttled: f64,
    pub(super) points: (f64, f64),
    /// Tryton REST calls of the poller while the changes were made and carried.
    pub(super) poller_calls: u64,
    /// Tryton REST calls of the consumer (the echo path) from the first change to the end.
    pub(super) echo_calls: u64,
    /// Changes whose Tryton call failed; items whose final figure differs.
    pub(super) failed: usize,
    pub(super) off: usize,
}

impl TwoWayFigures<'_> {
    pub(super) fn markdown(&self) -> String {
        let args = self.args;
        let n = args.changes as f64;
        let (seen, inside, a) = (&self.erp_to_seen, &self.erp_to_shopify, &self.applied);
        format!(
            "## Two-way drill: {changes} ERP changes at {rate}/s over {items} items, the poller every {every} ms\n\n\
             Command: `bash infra/drill/two_way.sh --changes {changes} --rate {rate} --items {items} --every-ms {every} --window-ms {window}`\n\
             (the script starts its own moto, a private Tryton fresh from its snapshot and the Shopify stand-in, and stops them)\n\n\
             | figure | value |\n|---|---|\n\
             | ERP changes (inventory counts at WH, made one after the other) / failed | {changes} / {failed} |\n\
             | changes per second achieved by the generator (all made in {gen:.1} s) | {achieved:.2} |\n\
             | **Tryton count returned → Shopify shows the figure** (stand-in read every {observe} ms) p50 / p99 / max | **{s50:.0} / {s99:.0} / {smax:.0} ms** ({seen_n} seen) |\n\
             | move done → Shopify written (the sync's `ErpToShopifyMs`) p50 / p99 / max | {i50:.0} / {i99:.0} / {imax:.0} ms ({inside_n} writes) |\n\
             | the poller's polls / time of one poll (`ErpPollMs`) p50 / p99 / max | {polls} / {q50:.0} / {q99:.0} / {qmax:.0} ms |\n\
             | first change → every change seen in Shopify | {settled:.1} s |\n\
             | changes applied exactly once / folded into a later change of the item / applied twice | {once} / {folded} / {doubled} ({adj} adjustments under the sync's keys) |\n\
             | Admin API points: the sync's + the consumer's on the echoes | {sync_pts:.0} + {echo_pts:.0} = {points:.0} ({ppc:.1} per change) |\n\
             | GraphQL requests / throttled | {reqs:.0} ({rpc:.2} per change) / {throttled:.0} |\n\
             | Tryton REST calls of the poller | {pcalls} ({pcpc:.2} per change) |\n\
             | Tryton REST calls on the echo path (the consumer; 0 = nothing told back) | {echo} |\n\
             | items whose final figure differs between the ERP, Shopify and the count | {off} |\n",
            changes = args.changes, rate = args.rate, items = args.items, every = args.every_ms,
            window = args.window_ms, observe = args.observe_ms, failed = self.failed,
            gen = self.generated_secs, achieved = n / self.generated_secs.max(f64::EPSILON),
            s50 = seen.p(0.5), s99 = seen.p(0.99), smax = seen.max(),
            seen_n = self.counts.0,
            i50 = inside.p(0.5), i99 = inside.p(0.99), imax = inside.max(),
            inside_n = self.counts.1,
            polls = self.polls.0, q50 = self.polls.1.p(0.5), q99 = self.polls.1.p(0.99),
            qmax = self.polls.1.max(), settled = self.settled_secs,
            once = a.once, folded = a.folded, doubled = a.doubled, adj = a.adjustments,
            sync_pts = self.points.0, echo_pts = self.points.1,
            points = self.points.0 + self.points.1, ppc = (self.points.0 + self.points.1) / n,
            reqs = self.graphql_requests, rpc = self.graphql_requests / n,
            throttled = self.throttled,
            pcalls = self.poller_calls, pcpc = self.poller_calls as f64 / n,
            echo = self.echo_calls, off = self.off,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn a_change_is_once_folded_or_doubled_by_its_figure() {
        let changes = [
            Change { item: 0, count: 5 },
            Change { item: 0, count: 7 },
            Change { item: 1, count: 3 },
            Change { item: 1, count: 4 },
        ];
        let ours = BTreeMap::from([(10, vec![5, 7, 7]), (11, vec![4])]);
        assert_eq!(
            applied(&changes, &ours, 10),
            Applied {
                once: 2,
                folded: 1,
                doubled: 1,
                adjustments: 4
            }
        );
    }

    #[test]
    fn the_report_gives_the_command_percentiles_and_costs_per_change() {
        let args = TwoWayArgs::try_parse_from(["two-way", "--changes", "4"]).unwrap();
        let report = TwoWayFigures {
            args: &args,
            erp_to_seen: Sorted::new(vec![900.0, 1000.0, 1100.0, 3000.0]),
            erp_to_shopify: Sorted::new(vec![800.0]),
            counts: (4, 1),
            polls: (3, Sorted::new(vec![40.0, 50.0, 60.0])),
            generated_secs: 2.0,
            settled_secs: 5.0,
            applied: Applied {
                once: 4,
                adjustments: 4,
                ..Applied::default()
            },
            graphql_requests: 8.0,
            throttled: 0.0,
            points: (30.0, 10.0),
            poller_calls: 12,
            echo_calls: 0,
            failed: 0,
            off: 0,
        }
        .markdown();
        assert!(report.contains("`bash infra/drill/two_way.sh --changes 4 --rate 2 --items 40 --every-ms 1000 --window-ms 1000`"));
        assert!(report.contains("**1100 / 3000 / 3000 ms** (4 seen)"));
        assert!(report.contains("| 4 / 0 / 0 (4 adjustments"));
        assert!(report.contains("| 30 + 10 = 40 (10.0 per change) |"));
        assert!(report.contains("| 12 (3.00 per change) |"));
        assert!(report.contains("| 2.00 |"));
        assert!(report.contains("| 3 / 50 / 60 / 60 ms |"));
    }
}
