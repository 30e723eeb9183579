//! The shared harness of the integration tests: where the `paymatch` binary
//! and the fixtures are, temporary working directories that clean up after
//! themselves, and JSONL helpers.
//!
//! The binary is the real one (built by `cargo build`), run as a child
//! process, as operators and acceptance checks run it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;

pub mod kafka;

/// The repository root.
pub fn repo_root() -> PathBuf {
    // The directory at run time, not at build time: the shared target
    // directory may hold this binary built from another checkout.
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("..")
}

/// A fixture path under `fixtures/`.
pub fn fixture(relative: &str) -> PathBuf {
    repo_root().join("fixtures").join(relative)
}

/// The `paymatch` binary of this checkout, built (or found up to date) once
/// per test process with the same profile as the tests, so a test never runs
/// a stale binary.
pub fn paymatch_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>")
            .to_path_buf();
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "-p", "pipeline", "--bin", "paymatch"])
            .current_dir(repo_root());
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("cargo build");
        assert!(status.success(), "building paymatch failed");
        profile_dir.join("paymatch")
    })
}

/// Runs `paymatch` with arguments; fails with its stderr when it fails.
pub fn paymatch(args: &[&str]) -> Result<Output> {
    paymatch_with_env(args, Vec::new())
}

/// Runs `paymatch` with arguments and environment variables (its
/// configuration overrides); fails with its stderr when it fails.
pub fn paymatch_with_env(args: &[&str], env: Vec<(String, String)>) -> Result<Output> {
    let out = Command::new(paymatch_bin())
        .args(args)
        .arg("--quiet")
        .envs(env)
        .output()
        .context("running paymatch")?;
    if !out.status.success() {
        bail!(
            "paymatch {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

/// A working directory removed when dropped.
pub fn workdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("paymatch-test-")
        .tempdir()
        .expect("temporary directory")
}

/// Reads a JSONL file.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("{}: {l}", path.display())))
        .collect()
}

/// The body of a plain HTTP GET on loopback (the service's `/metrics`).
pub fn http_get(addr: &str, path: &str) -> Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

/// The sum of a Prometheus page's samples of `metric` whose labels contain
/// every one of `labels` (`stage="stage1"`); 0 when there are none.
pub fn metric_sum(page: &str, metric: &str, labels: &[&str]) -> f64 {
    page.lines()
        .filter(|line| {
            line.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|line| labels.iter().all(|l| line.contains(l)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Whether golden files should be rewritten (`UPDATE_GOLDEN=1`).
pub fn update_golden() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1")
}
