//! What the drills measure with: percentiles of sorted samples, the process's CPU time, DynamoDB
//! calls counted by an SDK interceptor, and the queue depth sampled once a second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_sqs::types::QueueAttributeName;

/// Samples in ascending order, for percentiles; empty samples read as NaN.
pub struct Sorted(Vec<f64>);

impl Sorted {
    pub fn new(mut samples: Vec<f64>) -> Self {
        samples.sort_by(f64::total_cmp);
        Sorted(samples)
    }

    /// The sample at quantile `p` (0 to 1), nearest rank.
    pub fn p(&self, p: f64) -> f64 {
        percentile(&self.0, p)
    }

    pub fn max(&self) -> f64 {
        self.0.last().copied().unwrap_or(f64::NAN)
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// CPU seconds this process has used (user + system), from /proc (Linux).
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the ')'.
    (ticks(11) + ticks(12)) / 100.0
}

/// A timeline of (Unix seconds, value) shifted to start at its first point.
pub fn from_first_point(timeline: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let origin = timeline.first().map(|p| p.0).unwrap_or(0.0);
    timeline.iter().map(|(t, v)| (t - origin, *v)).collect()
}

/// Counts the AWS calls a client makes (DynamoDB requests per event).
#[derive(Debug, Clone, Default)]
pub struct CountCalls(Arc<AtomicU64>);

impl CountCalls {
    pub fn total(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The queue's depth (visible + in flight), sampled once a second from `started` until `stop`.
pub struct QueueDepth {
    log: Arc<Mutex<Vec<(f64, f64)>>>,
    sampler: tokio::task::JoinHandle<()>,
}

impl QueueDepth {
    pub fn sample(
        sqs: &aws_sdk_sqs::Client,
        queue_url: &str,
        started: Instant,
        stop: &tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (sqs, url, points, stop) = (
            sqs.clone(),
            queue_url.to_string(),
            log.clone(),
            stop.clone(),
        );
        let sampler = tokio::spawn(async move {
            while !*stop.borrow() {
                if let Some(depth) = depth(&sqs, &url).await {
                    if let Ok(mut points) = points.lock() {
                        points.push((started.elapsed().as_secs_f64(), depth));
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        QueueDepth { log, sampler }
    }

    /// Waits for the sampler to see `stop`; returns (seconds since start, messages) points.
    pub async fn finish(self) -> Vec<(f64, f64)> {
        let _ = self.sampler.await;
        self.log.lock().map(|d| d.clone()).unwrap_or_default()
    }
}

/// Messages visible plus in flight, or `None` if the queue could not be read.
async fn depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Option<f64> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .ok()?;
    let attributes = out.attributes().cloned().unwrap_or_default();
    let n = |k: QueueAttributeName| {
        attributes
            .get(&k)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Some(
        n(QueueAttributeName::ApproximateNumberOfMessages)
            + n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_over_sorted_samples() {
        let samples = Sorted::new(vec![5.0, 1.0, 4.0, 2.0, 3.0]);
        assert_eq!(samples.p(0.0), 1.0);
        assert_eq!(samples.p(0.5), 3.0);
        assert_eq!(samples.p(0.99), 5.0);
        assert_eq!(samples.max(), 5.0);
    }

    #[test]
    fn no_samples_read_as_nan() {
        let none = Sorted::new(Vec::new());
        assert!(none.p(0.5).is_nan() && none.max().is_nan());
    }

    #[test]
    fn a_timeline_starts_at_its_first_point() {
        let shifted = from_first_point(&[(100.0, 1.0), (102.5, 2.0)]);
        assert_eq!(shifted, vec![(0.0, 1.0), (2.5, 2.0)]);
    }
}
