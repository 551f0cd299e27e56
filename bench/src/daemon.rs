//! Part 7, the daemon, for real: the `harpoon-scheduler` daemon
//! (`harpoon_io::daemon::serve`) in this process, over loopback.
//!
//! 1. Durable schedule requests per second: concurrent clients each `PUT`
//!    distinct jobs to `/api/v0/schedule` and wait for the 202, which the
//!    daemon sends only once the job is on disk. Writes are group-committed
//!    (one write carries every request that arrived while the previous one
//!    was under way). The baseline writes the registry the same way (a
//!    temporary file, fsync, rename, fsync of the directory) once per
//!    request, serially, the registry growing by one job per write: what a
//!    daemon without group commit would at best achieve, with no HTTP or
//!    decoding cost at all.
//! 2. Rollout: from one schedule of a large scale on local agents
//!    (`LocalAgents`, real processes) to every task running.
//!
//! Every process the jobs start carries a marker unique to this run in its
//! command line; [`ProcessGuard`] kills whatever still carries it when the
//! part ends, even by a panic, so that nothing is left running.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use harpoon_core::SchedulerConfig;
use harpoon_core::wire::{JobConfig, JobHash};
use harpoon_io::daemon::{DaemonError, DaemonOptions, Discovery, LocalAgents};
use harpoon_testkit::{Client, JobJson, ProcessGuard, wait_for, wait_within};
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

/// Part 7.1: durable schedule requests per second.
fn schedule_throughput(runtime: &Runtime, size: Size, table: &mut Table) {
    let clients = size.pick(32, 4);
    let per_client = size.pick(100, 50);
    let total = clients * per_client;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let registry_path = dir.path().join("registry.json");
    let daemon = Daemon::start(runtime, &registry_path, Vec::new());

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
    barrier.wait();
    let started = Instant::now();
    for thread in threads {
        thread.join().expect("a client thread panicked");
    }
    let elapsed = started.elapsed();
    let writes = http_client()
        .metric(&daemon.url, "harpoon_registry_writes")
        .unwrap_or(0);
    daemon.stop(runtime);
    let stored = std::fs::read(&registry_path).expect("the registry was written");
    let stored: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&stored).expect("the registry is JSON");
    assert_eq!(stored.len(), total, "every acknowledged job is on disk");

    let baseline = one_write_per_request(dir.path(), clients, per_client);
    table.row(
        format!("durable schedules, {clients} clients (group commit)"),
        total as f64 / elapsed.as_secs_f64(),
        Some(total as f64 / baseline.as_secs_f64()),
        "requests/s",
        None,
    );
    table.notes.push(format!(
        "7.1: {} requests (each a distinct job) in {:.2} s and {} registry writes ({:.1} requests a \
         write, {:.2} ms a write); the registry ends at {} jobs ({} bytes). Baseline: the same {} \
         jobs written one registry write per request (temporary file, fsync, rename, directory \
         fsync, the registry growing by one job each time), serially and without HTTP, in {:.2} s \
         ({:.2} ms a write). Every write rewrites the whole registry, so both grow slower as it \
         grows, and fsync latency on a shared machine varies from run to run: compare the ratio, \
         measured in one run, rather than figures of different runs.",
        count(total as u64),
        elapsed.as_secs_f64(),
        count(writes),
        total as f64 / writes.max(1) as f64,
        elapsed.as_secs_f64() * 1e3 / writes.max(1) as f64,
        count(total as u64),
        count(std::fs::metadata(&registry_path).map_or(0, |m| m.len())),
        count(total as u64),
        baseline.as_secs_f64(),
        baseline.as_secs_f64() * 1e3 / total as f64,
    ));
}

/// The baseline of 7.1: one durable write per request, serially.
fn one_write_per_request(dir: &Path, clients: usize, per_client: usize) -> Duration {
    let path = dir.join("baseline-registry.json");
    let jobs: Vec<JobConfig> = (0..per_client)
        .flat_map(|index| (0..clients).map(move |client| (client, index)))
        .map(|(client, index)| {
            serde_json::from_value(small_job(&format!("c{client}-r{index}")))
                .expect("the bench's job decodes")
        })
        .collect();
    let mut registry: BTreeMap<JobHash, Arc<JobConfig>> = BTreeMap::new();
    let started = Instant::now();
    for job in jobs {
        registry.insert(job.hash(), Arc::new(job));
        store(&path, &registry).expect("the baseline registry is written");
    }
    started.elapsed()
}

/// Replaces the registry at `path` durably, as the daemon's
/// `persist::store_bytes` does (that module is private to `harpoon-io`):
/// pretty JSON to a temporary file in the same directory, fsync, rename
/// over the registry, fsync of the directory. (The daemon also keeps each
/// job's encoding between writes; the baseline encodes everything.)
fn store(path: &Path, jobs: &BTreeMap<JobHash, Arc<JobConfig>>) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(jobs).expect("jobs always encode");
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = dir.join(".baseline-registry.json.tmp");
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, path)?;
    std::fs::File::open(dir)?.sync_all()
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
        let options = DaemonOptions {
            scheduler: SchedulerConfig {
                trace: false,
                ..SchedulerConfig::default()
            },
            registry_path: PathBuf::from(registry_path),
            discovery: Discovery {
                fixed: agents,
                agents_file: None,
            },
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
    JobJson::new(name)
        .product("bench", "dev")
        .resources(64, 0.1)
        .json()
}

/// A blocking HTTP client that reports every status as a value.
fn http_client() -> Client {
    Client::new(Duration::from_secs(60))
}

/// One request; panics if it cannot be sent (the daemon is in this process).
fn request(http: &Client, method: &str, url: &str, body: Option<String>) -> (u16, String) {
    let headers: &[(&str, &str)] = if body.is_some() {
        &[("content-type", "application/json")]
    } else {
        &[]
    };
    http.request(method, url, body.as_deref().map(str::as_bytes), headers)
}

/// The status of every container `/api/v0/proxy` lists.
fn proxy_statuses(http: &Client, url: &str) -> Vec<String> {
    let proxy: BTreeMap<String, serde_json::Value> =
        serde_json::from_value(http.get_json(&format!("{url}/api/v0/proxy")))
            .expect("/proxy answers an object");
    proxy
        .values()
        .filter_map(|event| event["containers"].as_object())
        .flat_map(|containers| containers.values())
        .map(|instance| instance["status"].as_str().unwrap_or("").to_owned())
        .collect()
}
