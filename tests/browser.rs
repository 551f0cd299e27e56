//! Browser tests: Debian's `chromium`, headless, loads the daemon's status
//! page and a simulated run's timeline, and the tests check the DOM it
//! built; screenshots are saved under `target/browser-tests/`.
//!
//! Their own command (they need chromium, which `cargo test --workspace`
//! must not), after building the binaries they start:
//!
//! ```sh
//! cargo build -p harpoon-io -p harpoon-sim --bins
//! cargo test -p harpoon --features browser-tests --test browser
//! ```
//!
//! Without chromium they fail, saying how to install it.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

/// Debian's chromium; `HARPOON_CHROMIUM` names another.
const CHROMIUM: &str = "/usr/bin/chromium";
const SETTLE: Duration = Duration::from_secs(60);
const BROWSER_LIMIT: Duration = Duration::from_secs(90);

/// Where screenshots and pages go: `target/browser-tests/`.
fn artefacts() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("target/debug/deps/<test>")
        .to_path_buf();
    let dir = target.join("browser-tests");
    std::fs::create_dir_all(&dir).expect("the artefacts directory");
    dir
}

fn chromium() -> String {
    let chromium = std::env::var("HARPOON_CHROMIUM").unwrap_or_else(|_| CHROMIUM.to_owned());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: the browser tests need Debian's chromium \
         (apt-get update && apt-get install -y chromium)"
    );
    chromium
}

/// Runs headless chromium with `args` and `url`, within a deadline; its
/// standard output.
fn run_chromium(args: &[&str], url: &str, profile: &Path) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let status = wait_for("chromium to finish", BROWSER_LIMIT, || {
        child.try_wait().expect("chromium's status")
    });
    let mut stdout = String::new();
    let mut stderr = String::new();
    use std::io::Read as _;
    child
        .stdout
        .take()
        .map(|mut out| out.read_to_string(&mut stdout));
    child
        .stderr
        .take()
        .map(|mut err| err.read_to_string(&mut stderr));
    assert!(status.success(), "chromium failed ({status}): {stderr}");
    stdout
}

fn dump_dom(url: &str, profile: &Path) -> String {
    run_chromium(&["--dump-dom", "--virtual-time-budget=3000"], url, profile)
}

fn screenshot(url: &str, out: &Path, size: &str, profile: &Path) {
    let _ = std::fs::remove_file(out);
    run_chromium(
        &[
            &format!("--screenshot={}", out.display()),
            &format!("--window-size={size}"),
        ],
        url,
        profile,
    );
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    assert!(
        bytes > 1000,
        "{} was not written ({bytes} bytes)",
        out.display()
    );
}

#[test]
fn the_status_page_shows_local_agents_and_a_running_job_in_chromium() {
    let env = TestEnv::new("browser-status");
    let scheduler = env.scheduler_with_local_agents(2, &[]);
    let url = &scheduler.url;
    let script = "<script>document.body.setAttribute('data-pwned','yes')</script>";
    let mut job = env.job("web", 3);
    job["command"]["exec"]
        .as_array_mut()
        .expect("exec")
        .push(script.into());
    schedule(url, &job);
    wait_for("three running instances", SETTLE, || {
        (proxy(url).iter().filter(|(_, _, s)| s == "running").count() == 3).then_some(())
    });
    let profile = env.dir.path().join("chromium");
    let dom = dump_dom(&format!("{url}/"), &profile);
    assert_eq!(
        dom.matches("<tr class=\"agent\"").count(),
        2,
        "a row per local agent: {dom}"
    );
    assert!(
        dom.contains("data-job=\"web\" data-running=\"3\""),
        "the job with its running count: {dom}"
    );
    assert!(
        dom.contains("&lt;script&gt;document.body.setAttribute"),
        "the command's <script> is shown as text: {dom}"
    );
    assert!(
        dom.contains("<body><header>"),
        "and it did not run (the body has no data-pwned): {dom}"
    );
    assert!(dom.contains("Recent decisions"));
    let shot = artefacts().join("status-page.png");
    screenshot(&format!("{url}/"), &shot, "1280,760", &profile);
    println!("screenshot: {}", shot.display());
}

#[test]
fn with_a_token_chromium_sees_the_login_form_and_nothing_else() {
    let env = TestEnv::new("browser-login");
    let scheduler = env.scheduler_with_local_agents(1, &["--token", "s3cret"]);
    let profile = env.dir.path().join("chromium");
    let dom = dump_dom(&format!("{}/", scheduler.url), &profile);
    assert!(dom.contains("action=\"/ui/login\""), "{dom}");
    assert!(dom.contains("type=\"password\""), "{dom}");
    assert!(!dom.contains("class=\"agent\""), "no agent shown: {dom}");
}

#[test]
fn a_timeline_has_a_lane_per_agent_and_the_crash_at_its_time_in_chromium() {
    let dir = artefacts();
    let out = dir.join("timeline-10-agent-crash-past-abandon.html");
    let _ = std::fs::remove_file(&out);
    let scenario =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/10-agent-crash-past-abandon.toml");
    let run = Command::new(bin("harpoon-sim"))
        .arg("run")
        .arg(&scenario)
        .arg("--timeline")
        .arg(&out)
        .output()
        .expect("harpoon-sim runs");
    assert!(
        run.status.success(),
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let profile = tempfile::tempdir().expect("a profile directory");
    let url = format!("file://{}", out.display());
    let dom = dump_dom(&url, profile.path());
    for agent in ["a0", "a1"] {
        assert_eq!(
            dom.matches(&format!("data-agent=\"{agent}\"")).count(),
            1,
            "one lane for {agent}"
        );
    }
    // The scenario crashes a0 at 30 s and restarts it at 2 m, in a 4 m run
    // (the legend's sample of a crash span has no times).
    let crash = dom
        .split("<rect ")
        .find(|rect| rect.starts_with("class=\"fault crash\"") && rect.contains("data-from-ms"))
        .unwrap_or_else(|| panic!("a crash span: {dom}"));
    let attribute = |name: &str| -> f64 {
        let start = crash.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
        crash[start..]
            .split('"')
            .next()
            .unwrap()
            .parse()
            .expect(name)
    };
    assert_eq!(attribute("data-from-ms"), 30_000.0);
    assert_eq!(attribute("data-to-ms"), 120_000.0);
    let svg = dom
        .split("<svg id=\"timeline\"")
        .nth(1)
        .expect("the timeline's svg");
    let svg_attribute = |name: &str| -> f64 {
        let start = svg.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
        svg[start..].split('"').next().unwrap().parse().expect(name)
    };
    let (left, width, end) = (
        svg_attribute("data-plot-left"),
        svg_attribute("data-plot-width"),
        svg_attribute("data-end-ms"),
    );
    assert_eq!(end, 240_000.0);
    assert!((attribute("x") - (left + width * 30.0 / 240.0)).abs() < 0.01);
    assert!((attribute("width") - width * 90.0 / 240.0).abs() < 0.01);
    let shot = dir.join("timeline.png");
    screenshot(&url, &shot, "1400,520", profile.path());
    println!("screenshot: {}", shot.display());
}
