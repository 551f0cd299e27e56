//! Part 7, the daemon, for real: the `harpoon-scheduler` daemon
//! (`harpoon_io::daemon::serve`) in this process, over loopback.
//!
//! 1. Durable schedule requests per second: concurrent clients each `PUT`
//!    distinct jobs to `/api/v0/schedule` and wait for the 202, which the
//!    daemon sends only once the job is durable. Writes are group-committed
//!    (one write carries every request that arrived while the previous one
//!    was under way). Measured with the registry already holding 0, 10,000
//!    and 100,000 jobs (filled directly into the store, not through HTTP),
//!    on the embedded store (redb: a write is one transaction of what
//!    changed) beside the whole-file store (the JSON registry rewritten
//!    whole on every write, as before it and as the original Harpoon did),
//!    in the same run. Also: bytes written to disk per group commit (the
//!    process's `write_bytes` in `/proc/self/io`, over the writes the daemon
//!    counted), and the daemon's start-up time with the filled registry
//!    (from `serve` until `/metrics` counts every job). At 0 jobs and at
//!    the largest size the embedded run is repeated with `--record` (every
//!    input the core is handed recorded, `harpoon_io::daemon::record`),
//!    beside the run without it.
//! 2. Rollout: from one schedule of a large scale on local agents
//!    (`LocalAgents`, real processes) to every task running.
//!
//! Every process the jobs start carries a marker unique to this run in its
//! command line; [`ProcessGuard`] kills whatever still carries it when the
//! part ends, even by a panic, so that nothing is left running.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use harpoon_core::wire::JobConfig;
use harpoon_core::{RegistryChanges, SchedulerConfig};
use harpoon_io::daemon::{
    DaemonError, DaemonOptions, Discovery, LocalAgents, RecordOptions, RegistryStore, StoreKind,
};
use harpoon_testkit::{Client, ProcessGuard, wait_for, wait_within};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

use crate::Size;
use crate::report::{Table, count, human};

/// Runs this part.
pub fn run(size: Size) -> Table {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    let mut table = Table::new("7. The daemon (in-process, loopback)");
    schedule_throughput(&runtime, size, &mut table);
    rollout(&runtime, size, &mut table);
    table
}

/// Part 7.1: durable schedule requests per second, by registry size and
/// store.
fn schedule_throughput(runtime: &Runtime, size: Size, table: &mut Table) {
    let clients = size.pick(32, 4);
    let sizes = size.pick(vec![0, 10_000, 100_000], vec![0, 1_000, 5_000]);
    let largest = *sizes.last().expect("sizes");
    let mut empty_rate = None;
    let mut notes = Vec::new();
    for &jobs in &sizes {
        let embedded = measure(
            runtime,
            StoreKind::Embedded,
            jobs,
            clients,
            size.pick(100, 10),
            false,
        );
        // The whole-file store rewrites the registry per write: fewer
        // requests keep its run short at large sizes (its rate is a rate).
        let whole_per_client = match jobs {
            0 => size.pick(100, 10),
            j if j <= 10_000 => size.pick(20, 5),
            _ => size.pick(4, 2),
        };
        let whole = measure(
            runtime,
            StoreKind::WholeFile,
            jobs,
            clients,
            whole_per_client,
            false,
        );
        let goal = (jobs == largest).then(|| {
            let ratio = embedded.rate() / whole.rate();
            (format!("≥ 20× ({ratio:.0}×)"), ratio >= 20.0)
        });
        table.row(
            format!("durable schedules, {clients} clients, {} jobs in the registry (embedded store; baseline: whole file)", count(jobs as u64)),
            embedded.rate(),
            Some(whole.rate()),
            "requests/s",
            goal,
        );
        if jobs == 0 || jobs == largest {
            // The same requests with every input recorded (`--record`),
            // alternated with runs without it: fsync latency on a shared
            // machine moves single runs by tens of percent, so each side
            // is the median of three runs.
            let mut without = vec![embedded.rate()];
            let mut with = Vec::new();
            let mut record_bytes = 0;
            for round in 0..3 {
                let recorded = measure(
                    runtime,
                    StoreKind::Embedded,
                    jobs,
                    clients,
                    size.pick(100, 10),
                    true,
                );
                record_bytes = recorded.record_bytes;
                with.push(recorded.rate());
                if round < 2 {
                    let plain = measure(
                        runtime,
                        StoreKind::Embedded,
                        jobs,
                        clients,
                        size.pick(100, 10),
                        false,
                    );
                    without.push(plain.rate());
                }
            }
            let (with, without) = (median(&mut with), median(&mut without));
            let ratio = with / without;
            table.row(
                format!(
                    "durable schedules, {clients} clients, {} jobs, with --record (embedded; baseline: without; medians of 3)",
                    count(jobs as u64)
                ),
                with,
                Some(without),
                "requests/s",
                Some((
                    format!("≤ 10 % slower ({:+.1} %)", (ratio - 1.0) * 100.0),
                    ratio >= 0.9,
                )),
            );
            notes.push(format!(
                "{} jobs, embedded with --record: {} B of recording for {} requests",
                count(jobs as u64),
                count(record_bytes),
                count((clients * size.pick(100, 10)) as u64),
            ));
        }
        if jobs == 0 {
            empty_rate = Some(embedded.rate());
        }
        if jobs == largest
            && let Some(empty) = empty_rate
        {
            let held = embedded.rate() * 2.0 >= empty;
            table.row(
                format!(
                    "durable schedules at {} jobs, embedded store (baseline: at 0 jobs)",
                    count(jobs as u64)
                ),
                embedded.rate(),
                Some(empty),
                "requests/s",
                Some(("within 2× (≥ 0.5×)".to_owned(), held)),
            );
            table.row(
                format!("bytes written to disk per group commit at {} jobs (embedded; baseline: whole file)", count(jobs as u64)),
                embedded.bytes_per_write(),
                Some(whole.bytes_per_write()),
                "B",
                None,
            );
            table.row(
                format!(
                    "daemon start-up with {} jobs in the store (embedded; baseline: whole file)",
                    count(jobs as u64)
                ),
                embedded.startup.as_secs_f64(),
                Some(whole.startup.as_secs_f64()),
                "s",
                Some((
                    "≤ 2 s".to_owned(),
                    embedded.startup <= Duration::from_secs(2),
                )),
            );
        }
        for (name, run) in [("embedded", &embedded), ("whole file", &whole)] {
            notes.push(format!(
                "{} jobs, {name}: {} requests in {:.2} s, {} writes ({:.1} requests, {:.2} ms, {} B to disk a write), start-up {:.3} s (opening and reading the store alone: {:.3} s), file {} B",
                count(jobs as u64),
                count(run.requests as u64),
                run.elapsed.as_secs_f64(),
                count(run.writes),
                run.requests as f64 / run.writes.max(1) as f64,
                run.elapsed.as_secs_f64() * 1e3 / run.writes.max(1) as f64,
                count(run.bytes_per_write() as u64),
                run.startup.as_secs_f64(),
                run.open.as_secs_f64(),
                count(run.file_bytes),
            ));
        }
    }
    table.notes.push(format!(
        "7.1: each request a distinct job; the registry is filled directly into the store before the daemon starts. \
         The whole-file store runs fewer requests at large sizes (its every write rewrites the file). Bytes to disk \
         are the process's write_bytes over the writes the daemon counted (file system and fsync overhead included). \
         Start-up: from serve() to /metrics counting every job, after a clean shutdown. fsync latency on a shared \
         machine varies from run to run: compare figures of one run. {}.",
        notes.join("; ")
    ));
}

/// What one 7.1 run measured.
struct Run {
    requests: usize,
    elapsed: Duration,
    writes: u64,
    disk_bytes: u64,
    startup: Duration,
    /// Opening and reading the store alone.
    open: Duration,
    file_bytes: u64,
    /// The size of the recording, when recorded.
    record_bytes: u64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn bytes_per_write(&self) -> f64 {
        self.disk_bytes as f64 / self.writes.max(1) as f64
    }
}

/// Fills a store of `kind` with `jobs` jobs directly, starts the daemon on
/// it and measures start-up, then `clients` × `per_client` schedules.
fn measure(
    runtime: &Runtime,
    kind: StoreKind,
    jobs: usize,
    clients: usize,
    per_client: usize,
    record: bool,
) -> Run {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(match kind {
        StoreKind::Embedded => "registry.redb",
        StoreKind::WholeFile => "registry.json",
    });
    fill(&path, kind, jobs);
    // The part of start-up that is the store's: open, check and read it.
    let opening = Instant::now();
    drop(RegistryStore::open(&path, kind).expect("the filled store opens"));
    let open = opening.elapsed();
    let started = Instant::now();
    let record_dir = record.then(|| dir.path().join("record"));
    let daemon = Daemon::start_with(runtime, &path, kind, Vec::new(), record_dir.as_deref());
    let http = http_client();
    wait_for(
        "the daemon to load the registry",
        Duration::from_secs(120),
        || (http.metric(&daemon.url, "harpoon_tasks_desired")? >= jobs as u64).then_some(()),
    );
    let startup = started.elapsed();

    let barrier = Arc::new(Barrier::new(clients + 1));
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let barrier = Arc::clone(&barrier);
            let url = format!("{}/api/v0/schedule", daemon.url);
            std::thread::spawn(move || {
                let http = http_client();
                let bodies: Vec<String> = (0..per_client)
                    .map(|index| small_job(&format!("c{client}-r{index}")).to_string())
                    .collect();
                barrier.wait();
                for body in bodies {
                    let (status, text) = request(&http, "PUT", &url, Some(body));
                    assert_eq!(status, 202, "PUT {url}: {text}");
                }
            })
        })
        .collect();
    let writes_before = http
        .metric(&daemon.url, "harpoon_registry_writes")
        .unwrap_or(0);
    let disk_before = process_write_bytes();
    barrier.wait();
    let started = Instant::now();
    for thread in threads {
        thread.join().expect("a client thread panicked");
    }
    let elapsed = started.elapsed();
    let disk_bytes = process_write_bytes().saturating_sub(disk_before);
    let writes = http
        .metric(&daemon.url, "harpoon_registry_writes")
        .unwrap_or(0)
        .saturating_sub(writes_before);
    daemon.stop(runtime);
    let (_, stored) = RegistryStore::open(&path, kind).expect("the store opens again");
    assert_eq!(
        stored.jobs.len(),
        jobs + clients * per_client,
        "every acknowledged job is in the store"
    );
    Run {
        requests: clients * per_client,
        elapsed,
        writes,
        disk_bytes,
        startup,
        open,
        file_bytes: std::fs::metadata(&path).map_or(0, |m| m.len()),
        record_bytes: record_dir.map_or(0, |dir| directory_bytes(&dir)),
    }
}

/// The bytes of the files in `dir`.
fn directory_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.metadata().ok())
        .map(|metadata| metadata.len())
        .sum()
}

/// The median of `values` (sorted in place).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Writes `jobs` jobs into a new store of `kind` at `path`, in one write.
fn fill(path: &Path, kind: StoreKind, jobs: usize) {
    let (mut store, loaded) = RegistryStore::open(path, kind).expect("a new store opens");
    assert!(loaded.jobs.is_empty());
    if jobs == 0 {
        return;
    }
    let put = (0..jobs)
        .map(|index| {
            let job: JobConfig = serde_json::from_value(small_job(&format!("fill-{index}")))
                .expect("the bench's job decodes");
            (job.hash(), Arc::new(job))
        })
        .collect();
    store
        .apply(
            1,
            &RegistryChanges {
                put,
                removed: Vec::new(),
                ..RegistryChanges::default()
            },
        )
        .expect("the store is filled");
}

/// Bytes this process has caused to be written to storage so far
/// (`write_bytes` of `/proc/self/io`; 0 where unavailable).
fn process_write_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("write_bytes: "))
                .and_then(|value| value.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Part 7.2: one schedule of a large scale on local agents, to every task
/// running.
fn rollout(runtime: &Runtime, size: Size, table: &mut Table) {
    let agent_count = size.pick(10, 2);
    let scale = size.pick(1_000, 20);
    let guard = ProcessGuard::new("bench");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let agents = runtime
        .block_on(LocalAgents::start(agent_count, &dir.path().join("agents")))
        .expect("the local agents start");
    let daemon = Daemon::start(
        runtime,
        &dir.path().join("registry.json"),
        agents.urls.clone(),
    );
    let http = http_client();
    wait_for(
        "every agent to be connected",
        Duration::from_secs(30),
        || {
            http.metric(&daemon.url, "harpoon_agents_connected")
                .filter(|n| *n == agent_count as u64)
        },
    );

    let job = guard
        .job("rollout")
        .product("bench", "dev")
        .scale(scale as u64)
        .resources(1, 0.001)
        .json()
        .to_string();
    let started = Instant::now();
    let (status, text) = request(
        &http,
        "PUT",
        &format!("{}/api/v0/schedule", daemon.url),
        Some(job.clone()),
    );
    assert_eq!(status, 202, "schedule: {text}");
    let accepted = started.elapsed();
    // `/metrics` counts running instances from the same records `/proxy`
    // lists, in a few hundred bytes instead of a megabyte of JSON, so
    // polling it often disturbs the rollout it measures far less.
    wait_for("every task to run", Duration::from_secs(600), || {
        http.metric(&daemon.url, "harpoon_tasks_running")
            .filter(|n| *n >= scale as u64)
    });
    let all_running = started.elapsed();
    let running_in_proxy = proxy_statuses(&http, &daemon.url)
        .iter()
        .filter(|status| status.as_str() == "running")
        .count();
    let processes = guard.leftovers().len();

    table.row(
        format!(
            "schedule of scale {} on {agent_count} local agents → all running",
            count(scale as u64)
        ),
        all_running.as_secs_f64(),
        None,
        "s",
        None,
    );
    table.notes.push(format!(
        "7.2: 202 after {:.3} s; all {} running after {:.2} s ({} tasks/s); `/proxy` then listed \
         {} running and {} processes carried the run's marker. Tasks are \
         `/bin/sh -c 'while :; do sleep 30; done'` (0.001 cpu, 1 MB), no artifact; local agents \
         get an equal share of the machine's CPUs and memory.",
        accepted.as_secs_f64(),
        count(scale as u64),
        all_running.as_secs_f64(),
        human(scale as f64 / all_running.as_secs_f64()),
        count(running_in_proxy as u64),
        count(processes as u64),
    ));

    // Clean up through the scheduler first, as a user would; the guard
    // kills whatever is left.
    let started = Instant::now();
    let (status, text) = request(
        &http,
        "PUT",
        &format!("{}/api/v0/unschedule", daemon.url),
        Some(job),
    );
    assert_eq!(status, 202, "unschedule: {text}");
    let cleaned = wait_within(Duration::from_secs(300), || {
        proxy_statuses(&http, &daemon.url).is_empty().then_some(())
    });
    let stop_secs = started.elapsed().as_secs_f64();
    daemon.stop(runtime);
    runtime.block_on(agents.stop());
    let left = guard.leftovers().len();
    drop(guard);
    table.notes.push(format!(
        "7.2 cleanup: unschedule removed every container in {stop_secs:.2} s{}; {left} processes \
         were left for the guard to kill.",
        if cleaned.is_some() {
            ""
        } else {
            " (timed out)"
        },
    ));
}

/// A daemon serving in this process.
struct Daemon {
    url: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), DaemonError>>,
}

impl Daemon {
    /// Starts a daemon on a loopback port with this registry and agents.
    fn start(runtime: &Runtime, registry_path: &Path, agents: Vec<String>) -> Daemon {
        Daemon::start_with(runtime, registry_path, StoreKind::Embedded, agents, None)
    }

    /// As [`Daemon::start`], on a store of `kind`, recording into `record`
    /// if given.
    fn start_with(
        runtime: &Runtime,
        registry_path: &Path,
        kind: StoreKind,
        agents: Vec<String>,
        record: Option<&Path>,
    ) -> Daemon {
        let options = DaemonOptions {
            scheduler: SchedulerConfig {
                trace: false,
                ..SchedulerConfig::default()
            },
            registry_path: PathBuf::from(registry_path),
            store: kind,
            discovery: Discovery {
                fixed: agents,
                agents_file: None,
            },
            record: record.map(|dir| RecordOptions::new(dir.to_owned())),
            ..DaemonOptions::default()
        };
        let (listener, addr) = runtime
            .block_on(harpoon_io::daemon::bind("127.0.0.1:0"))
            .expect("a loopback port");
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = Box::pin(async move {
            let _ = stopped.await;
        });
        let task = runtime.spawn(harpoon_io::daemon::serve(listener, options, shutdown));
        Daemon {
            url: format!("http://{addr}"),
            stop,
            task,
        }
    }

    /// Stops it and waits until it has finished its registry write.
    fn stop(self, runtime: &Runtime) {
        let _ = self.stop.send(());
        runtime
            .block_on(self.task)
            .expect("the daemon task did not panic")
            .expect("the daemon stopped cleanly");
    }
}

/// A job of tiny tasks that run until stopped.
fn small_job(name: &str) -> serde_json::Value {
    serde_json::json!({
        "job": name, "product": "bench", "environment": "dev", "scale": 1,
        "artifact_url": "",
        "command": { "working_dir": "/", "exec": ["/bin/sh", "-c", "exec sleep 3600"] },
        "resources": { "mem": 64, "cpu": 0.1 },
        "grace": { "startup": "1s", "shutdown": "1s" },
        "restart": "no", "health_checks": [], "ports": {}, "env": {},
        "storage": { "tmp": {}, "volumes": {} }
    })
}

/// The blocking HTTP client the end-to-end tests use too.
fn http_client() -> Client {
    Client::new(Duration::from_secs(60))
}

/// One request with a JSON body (or none).
fn request(http: &Client, method: &str, url: &str, body: Option<String>) -> (u16, String) {
    http.request(
        method,
        url,
        body.as_deref().map(str::as_bytes),
        &[("content-type", "application/json")],
    )
}

/// The status of every container `/api/v0/proxy` lists.
fn proxy_statuses(http: &Client, url: &str) -> Vec<String> {
    let (status, text) = request(http, "GET", &format!("{url}/api/v0/proxy"), None);
    assert_eq!(status, 200, "GET /proxy: {text}");
    let proxy: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&text).expect("/proxy answers JSON");
    proxy
        .values()
        .filter_map(|event| event["containers"].as_object())
        .flat_map(|containers| containers.values())
        .map(|instance| instance["status"].as_str().unwrap_or("").to_owned())
        .collect()
}
