//! `--lookup-events` with the real aws-sdk-cloudtrail client against a small server on 127.0.0.1 that
//! speaks the CloudTrail JSON protocol: it serves recorded events, filters by the one lookup attribute and
//! the time range, pages 50 at a time, and answers ThrottlingException above 2 requests per second.

use crate::util::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Default)]
struct State {
    events: Vec<Value>,
    calls: Vec<Instant>,
    /// Requests received, counted before the simulated network delay.
    received: usize,
    throttled: usize,
    queries: Vec<String>,
}

fn matches(e: &Value, key: &str, value: &str) -> bool {
    match key {
        "EventName" => e["eventName"] == value,
        "AccessKeyId" => e["userIdentity"]["accessKeyId"] == value,
        _ => false,
    }
}

fn epoch(t: &str) -> f64 {
    // Fixture times are all 2026-11-20THH:MM:SSZ.
    let h: f64 = t[11..13].parse().unwrap();
    let m: f64 = t[14..16].parse().unwrap();
    let s: f64 = t[17..19].parse().unwrap();
    1_795_132_800.0 + h * 3600.0 + m * 60.0 + s
}

fn respond(state: &Mutex<State>, body: &[u8]) -> (u16, String) {
    let mut st = state.lock().unwrap();
    let now = Instant::now();
    st.calls.push(now);
    let recent = st.calls.iter().filter(|t| now.duration_since(**t).as_millis() < 1000).count();
    if recent > 2 {
        st.throttled += 1;
        return (400, json!({"__type": "ThrottlingException", "message": "Rate exceeded"}).to_string());
    }
    let req: Value = serde_json::from_slice(body).unwrap();
    let attrs = req["LookupAttributes"].as_array().cloned().unwrap_or_default();
    assert!(attrs.len() <= 1, "LookupEvents takes one attribute");
    let (key, value) = attrs
        .first()
        .map(|a| (a["AttributeKey"].as_str().unwrap().to_owned(), a["AttributeValue"].as_str().unwrap().to_owned()))
        .unwrap_or_default();
    st.queries.push(format!("{key}={value}"));
    let start = req["StartTime"].as_f64().unwrap_or(0.0);
    let end = req["EndTime"].as_f64().unwrap_or(f64::MAX);
    let hits: Vec<&Value> = st
        .events
        .iter()
        .filter(|e| matches(e, &key, &value))
        .filter(|e| {
            let t = epoch(e["eventTime"].as_str().unwrap());
            t >= start && t <= end
        })
        .collect();
    let offset: usize = req["NextToken"].as_str().map(|t| t.parse().unwrap()).unwrap_or(0);
    let page: Vec<Value> = hits
        .iter()
        .skip(offset)
        .take(50)
        .map(|e| {
            json!({"EventId": e["eventID"], "EventName": e["eventName"], "ReadOnly": "true",
                   "EventTime": epoch(e["eventTime"].as_str().unwrap()), "EventSource": e["eventSource"],
                   "CloudTrailEvent": e.to_string()})
        })
        .collect();
    let mut out = json!({"Events": page});
    if offset + 50 < hits.len() {
        out["NextToken"] = json!((offset + 50).to_string());
    }
    (200, out.to_string())
}

fn serve(state: Arc<Mutex<State>>) -> (String, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else { continue };
            let state = state.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let state = state.clone();
                    async move {
                        let target =
                            req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let (status, text) = if target.ends_with(".LookupEvents") {
                            // Uneven latency, as on a real network: every third request reaches the service
                            // 250 ms late. A client that paces by when it sends, not by when answers come
                            // back, then lands three calls within one second.
                            let n = {
                                let mut st = state.lock().unwrap();
                                st.received += 1;
                                st.received
                            };
                            if n % 3 == 1 {
                                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                            }
                            respond(&state, &body)
                        } else {
                            (400, json!({"__type": "UnknownOperationException"}).to_string())
                        };
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .header("content-type", "application/x-amz-json-1.1")
                                .body(Full::new(Bytes::from(text)))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(socket), svc)
                    .await;
            });
        }
    });
    (url, rt)
}

#[test]
fn lookup_events_feeds_the_session_pipeline_within_the_rate_limit() {
    let arn = "arn:aws:sts::111122223333:assumed-role/Deploy/s";
    let mut events = vec![assume_role(
        "a1",
        "2026-11-20T10:00:00Z",
        iam_user("111122223333", "alice", "AKIAALICE"),
        "arn:aws:iam::111122223333:role/Deploy",
        "s",
        "ASIALOOKUP",
        "Nov 20, 2026, 11:00:00 AM",
    )];
    // 120 calls with the session: three pages of activity.
    for i in 0..120 {
        events.push(call(
            &format!("c{i}"),
            &format!("2026-11-20T10:{:02}:{:02}Z", 1 + i / 60, i % 60),
            "ListBuckets",
            role_session(arn, "ASIALOOKUP", "2026-11-20T10:00:00Z"),
            "1.1.1.1",
        ));
    }
    // An assumption before --since: not asked for.
    events.push(assume_role(
        "old",
        "2026-11-20T01:00:00Z",
        iam_user("111122223333", "bob", "AKIABOB"),
        "arn:aws:iam::111122223333:role/Old",
        "o",
        "ASIAOLD",
        "Nov 20, 2026, 2:00:00 AM",
    ));
    let state = Arc::new(Mutex::new(State { events, ..State::default() }));
    let (url, _rt) = serve(state.clone());
    let w = Workdir::new();
    let env = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_ENDPOINT_URL_CLOUDTRAIL", url.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
    ];
    let started = Instant::now();
    let r = trailscan_env(
        w.path(),
        &["sessions", "--lookup-events", "--region", "eu-west-1", "--since", "2026-11-20T09:00:00Z", "-f", "json"],
        &env,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = r.json();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["access_key_id"], "ASIALOOKUP");
    assert_eq!(rows[0]["event_count"], 120);
    let st = state.lock().unwrap();
    assert_eq!(st.throttled, 0, "trailscan kept to 2 calls per second");
    // Seven assumption event names, then the issued key's three pages.
    assert_eq!(st.queries.iter().filter(|q| q.starts_with("EventName=")).count(), 7);
    assert_eq!(st.queries.iter().filter(|q| *q == "AccessKeyId=ASIALOOKUP").count(), 3);
    assert!(!st.queries.iter().any(|q| q.contains("ASIAOLD")));
    assert!(started.elapsed().as_secs_f64() >= 4.0, "10 calls at 2 per second take over 4 seconds");

    // No region anywhere: a clear error.
    let mut no_region = env.to_vec();
    no_region.push(("AWS_REGION", ""));
    let r = trailscan_env(w.path(), &["sessions", "--lookup-events", "-f", "json"], &no_region);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--lookup-events needs a region"), "{}", r.stderr);
}
