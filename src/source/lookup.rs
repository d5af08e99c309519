//! LookupEvents: the CloudTrail API's last 90 days of management events, for users without bucket access.
//!
//! Per region: first the assumptions, by event name (one lookup attribute per call is all the API takes),
//! then each issued session's activity, by access key. Calls are paced to the service limit of two per
//! second per account and region, pages of 50 are followed to the end, and `--since`/`--until` become the
//! API's own time bounds, so paging stops at `--since`. Each query's events become one input, in NDJSON,
//! for the same decode stage as files. Console sessions use keys other than the issued one and are not
//! found by key: their activity needs the trail itself.

use super::aws_error::Failure;
use super::{Location, ObjectRef};
use crate::extract::TimeWindow;
use crate::messages::Progress;
use anyhow::{Context, Result};
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use std::time::{Duration, Instant};

/// The event names that create sessions, looked up first.
pub const ASSUMPTION_EVENTS: [&str; 7] = [
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "GetSessionToken",
    "GetFederationToken",
    "AssumeRoot",
    "SwitchRole",
];

/// At most two LookupEvents calls per second per account and region (the service limit): a call starts at
/// least this long after the previous call's answer arrived.
const MIN_INTERVAL: Duration = Duration::from_millis(500);

/// One query's events, ready for the decode stage.
pub struct Batch {
    pub object: ObjectRef,
    pub ndjson: Vec<u8>,
}

struct Paced {
    client: aws_sdk_cloudtrail::Client,
    last: Option<Instant>,
    window: TimeWindow,
    region: String,
}

impl Paced {
    async fn query(
        &mut self,
        key: LookupAttributeKey,
        value: &str,
        progress: &Progress,
        done: &mut u64,
    ) -> Result<Vec<String>> {
        let attr = LookupAttribute::builder().attribute_key(key.clone()).attribute_value(value).build()?;
        let mut events = Vec::new();
        let mut token: Option<String> = None;
        loop {
            if let Some(last) = self.last {
                let wait = MIN_INTERVAL.saturating_sub(last.elapsed());
                tokio::time::sleep(wait).await;
            }
            let mut req = self.client.lookup_events().lookup_attributes(attr.clone()).max_results(50);
            if let Some(s) = self.window.since {
                req = req.start_time(aws_sdk_cloudtrail::primitives::DateTime::from_secs(s));
            }
            if let Some(u) = self.window.until {
                req = req.end_time(aws_sdk_cloudtrail::primitives::DateTime::from_secs(u));
            }
            if let Some(t) = &token {
                req = req.next_token(t);
            }
            let page = req.send().await.map_err(|e| {
                anyhow::anyhow!(
                    "LookupEvents in {} ({}={value}) failed: {}",
                    self.region,
                    key.as_str(),
                    Failure::of(&e).explained("trailscan needs cloudtrail:LookupEvents")
                )
            })?;
            // Paced from the answer, not the request: whatever the latency, the next call reaches the
            // service at least MIN_INTERVAL after this one did, so no second ever holds three calls.
            self.last = Some(Instant::now());
            events.extend(page.events().iter().filter_map(|e| e.cloud_trail_event().map(str::to_owned)));
            *done += 1;
            progress.message(&format!("lookup-events {}: {} calls, {} events", self.region, done, events.len()));
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(events);
            }
        }
    }
}

/// Runs the lookups for every region and returns one batch per query.
pub fn collect(regions: &[String], profile: Option<&str>, window: TimeWindow) -> Result<Vec<Batch>> {
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the AWS runtime")?;
    rt.block_on(async {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(p) = profile {
            loader = loader.profile_name(p);
        }
        let shared = loader.load().await;
        let regions: Vec<String> = if regions.is_empty() {
            vec![shared.region().map(|r| r.to_string()).filter(|r| !r.trim().is_empty()).context(
                "--lookup-events needs a region: give --region (repeatable) or set AWS_REGION or a profile region",
            )?]
        } else {
            regions.to_vec()
        };
        let progress = Progress::spinner();
        let mut batches = Vec::new();
        for region in regions {
            let conf = aws_sdk_cloudtrail::config::Builder::from(&shared)
                .region(aws_config::Region::new(region.clone()))
                .build();
            let mut paced = Paced {
                client: aws_sdk_cloudtrail::Client::from_conf(conf),
                last: None,
                window,
                region: region.clone(),
            };
            let mut done = 0;
            let mut keys = Vec::new();
            for name in ASSUMPTION_EVENTS {
                let events = paced.query(LookupAttributeKey::EventName, name, &progress, &mut done).await?;
                keys.extend(events.iter().filter_map(|e| issued_key(e)));
                if !events.is_empty() {
                    batches.push(batch(&region, &format!("EventName={name}"), events));
                }
            }
            keys.sort();
            keys.dedup();
            for key in keys {
                let events = paced.query(LookupAttributeKey::AccessKeyId, &key, &progress, &mut done).await?;
                if !events.is_empty() {
                    batches.push(batch(&region, &format!("AccessKeyId={key}"), events));
                }
            }
        }
        progress.finish();
        Ok(batches)
    })
}

fn batch(region: &str, query: &str, events: Vec<String>) -> Batch {
    let mut ndjson = Vec::with_capacity(events.iter().map(|e| e.len() + 1).sum());
    for e in &events {
        // CloudTrailEvent is one JSON object; make sure it stays on one line.
        ndjson.extend(e.bytes().map(|b| if b == b'\n' || b == b'\r' { b' ' } else { b }));
        ndjson.push(b'\n');
    }
    Batch {
        object: ObjectRef {
            location: Location::Lookup { region: region.to_owned(), query: query.to_owned() },
            size: ndjson.len() as u64,
            modified: None,
        },
        ndjson,
    }
}

/// The access key a successful assumption issued.
fn issued_key(event: &str) -> Option<String> {
    let r: crate::record::Record = serde_json::from_str(event).ok()?;
    if r.error_code.get().is_some() {
        return None;
    }
    r.response.credentials.access_key_id.owned()
}
