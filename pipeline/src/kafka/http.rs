//! The Prometheus `/metrics` endpoint of `paymatch run`.
//!
//! The `metrics` facade records; the exporter crate keeps the registry and
//! renders the text format; this file serves it over a plain blocking
//! listener on one thread — a scrape every few seconds needs no HTTP
//! framework (and no async runtime in the binary's hot path).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::error::{Error, Result};

/// Latency buckets, seconds: milliseconds to tens of seconds.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Records per transaction.
const RECORD_BUCKETS: &[f64] = &[1.0, 10.0, 100.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0];

/// Installs the Prometheus recorder as the global one.
///
/// # Errors
/// Another recorder is installed already.
pub fn install() -> Result<PrometheusHandle> {
    let config_error = |e: &dyn std::fmt::Display| Error::Config {
        detail: format!("metrics: {e}"),
    };
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(crate::metrics::TRANSACTION_RECORDS.into()),
                RECORD_BUCKETS,
            )
        })
        .map_err(|e| config_error(&e))?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|e| config_error(&e))?;
    crate::metrics::describe();
    Ok(handle)
}

/// Serves `GET /metrics` on `listen` until `stop` is set; returns the
/// bound address (useful with port 0).
///
/// # Errors
/// The address cannot be bound.
pub fn serve(
    listen: &str,
    handle: PrometheusHandle,
    stop: Arc<AtomicBool>,
) -> Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(listen).map_err(Error::io(listen))?;
    let addr = listener.local_addr().map_err(Error::io(listen))?;
    listener.set_nonblocking(true).map_err(Error::io(listen))?;
    std::thread::Builder::new()
        .name("paymatch-metrics".into())
        .spawn(move || {
            let mut ticks = 0u32;
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Err(e) = answer(stream, &handle) {
                            tracing::debug!(%e, "metrics request");
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(50));
                        ticks += 1;
                        if ticks.is_multiple_of(100) {
                            handle.run_upkeep();
                        }
                    }
                    Err(e) => tracing::warn!(%e, "metrics listener"),
                }
            }
        })
        .map_err(Error::io("metrics thread"))?;
    Ok(addr)
}

fn answer(stream: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Drain the headers.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut out = stream;
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    if request_line.starts_with("GET ") && (path == "/metrics" || path.starts_with("/metrics?")) {
        let body = handle.render();
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    } else {
        let body = "paymatch: GET /metrics\n";
        write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut page = String::new();
        s.read_to_string(&mut page).unwrap();
        page
    }

    #[test]
    fn serves_the_prometheus_text_format_on_metrics_only() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            // The second payment counts through the handle the first
            // registered.
            let mut decided = crate::metrics::DecidedCounters::default();
            decided.increment("mpesa_c2b", model::Outcome::Matched);
            decided.increment("mpesa_c2b", model::Outcome::Matched);
            decided.increment("stripe", model::Outcome::Review);
            crate::metrics::restores_issued(2);
        });
        let stop = Arc::new(AtomicBool::new(false));
        let addr = serve("127.0.0.1:0", handle, stop.clone()).unwrap();
        let page = get(addr, "/metrics");
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
        assert!(
            page.contains(r#"paymatch_payments_total{provider="mpesa_c2b",outcome="matched"} 2"#),
            "{page}"
        );
        assert!(
            page.contains(r#"paymatch_payments_total{provider="stripe",outcome="review"} 1"#),
            "{page}"
        );
        assert!(page.contains("paymatch_restore_commands_total 2"), "{page}");
        assert!(get(addr, "/").starts_with("HTTP/1.1 404"));
        stop.store(true, Ordering::SeqCst);
    }
}
