//! End-to-end tests of the registry's store through the real
//! `harpoon-scheduler`: import of a JSON registry, export, a corrupt store,
//! temporary files, and a kill -9 storm during concurrent schedules.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use support::*;

fn registry_of(url: &str) -> BTreeMap<String, Value> {
    serde_json::from_value(get_json(&format!("{url}/api/v0/registry"))).unwrap()
}

fn start(persist: &str) -> Proc {
    Proc::start(
        "harpoon-scheduler",
        &["--listen", "127.0.0.1:0", "--persist", persist],
    )
}

/// A registry file as the original Harpoon writes it: an object of job
/// configs by hash, `scale` first.
fn original_registry(env: &TestEnv, names: &[&str]) -> String {
    let mut text = String::from("{");
    for (index, name) in names.iter().enumerate() {
        let mut job = env.job(name, 1);
        job.as_object_mut().unwrap().remove("scale");
        let body = serde_json::to_string(&job).unwrap();
        let entry = format!(
            "\"placeholder-{index}\":{{\"scale\":1,{}",
            body.trim_start_matches('{')
        );
        if index > 0 {
            text.push(',');
        }
        text.push_str(&entry);
    }
    text.push('}');
    text
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_json_registry_is_imported_once_beside_itself_and_never_modified() {
    let env = TestEnv::new("import");
    let json = env.path("registry.json");
    let original = original_registry(&env, &["web", "api"]);
    std::fs::write(&json, &original).unwrap();

    let mut scheduler = start(&json);
    let imported = registry_of(&scheduler.url);
    assert_eq!(imported.len(), 2, "{imported:?}");
    let names: Vec<&str> = imported
        .values()
        .map(|job| job["job"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(
        names.contains(&"web") && names.contains(&"api"),
        "{names:?}"
    );
    schedule(&scheduler.url, &env.job("batch", 1));
    assert!(scheduler.terminate().success());
    assert_eq!(
        std::fs::read_to_string(&json).unwrap(),
        original,
        "the JSON file is untouched"
    );
    assert!(
        Path::new(&format!("{json}.redb")).exists(),
        "the store is beside it"
    );

    // The second start uses the store: the job scheduled since is there,
    // and editing the JSON file changes nothing.
    std::fs::write(&json, original_registry(&env, &["other"])).unwrap();
    let scheduler = start(&json);
    let reopened = registry_of(&scheduler.url);
    assert_eq!(reopened.len(), 3, "{reopened:?}");
    assert!(reopened.keys().all(|hash| !hash.starts_with("placeholder")));
}

#[test]
fn export_writes_the_json_registry_and_importing_it_gives_the_same_registry() {
    let env = TestEnv::new("export");
    let store = env.path("registry.redb");
    let mut scheduler = start(&store);
    for name in ["web", "api", "batch"] {
        schedule(&scheduler.url, &env.job(name, 2));
    }
    let live = registry_of(&scheduler.url);
    assert!(scheduler.terminate().success());

    let out = env.path("exported.json");
    let status = std::process::Command::new(bin("harpoon-scheduler"))
        .args(["registry", "export", "--persist", &store, "--out", &out])
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    let exported: BTreeMap<String, Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(
        exported.keys().collect::<Vec<_>>(),
        live.keys().collect::<Vec<_>>(),
        "the export holds every job under its hash"
    );
    for (hash, job) in &exported {
        assert_eq!(job["job"], live[hash]["job"]);
        assert_eq!(job["scale"], live[hash]["scale"]);
    }
    assert!(
        text.starts_with("{\"") && text.contains(":{\"scale\":2,") && text.ends_with("}\n"),
        "the original's encoding (compact, scale first): {text}"
    );

    // Going back and forth: the export imports into the same jobs, under
    // the same hashes (in the original's encoding: `fd` now explicit).
    let scheduler = start(&out);
    let reimported = registry_of(&scheduler.url);
    assert_eq!(
        reimported.keys().collect::<Vec<_>>(),
        live.keys().collect::<Vec<_>>()
    );
}

fn refuses_to_start(persist: &str) -> String {
    let output = std::process::Command::new(bin("harpoon-scheduler"))
        .args(["--listen", "127.0.0.1:0", "--persist", persist])
        .output()
        .unwrap();
    assert!(!output.status.success(), "the daemon started on {persist}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_garbage_store_stops_the_daemon_naming_it_and_is_left_untouched() {
    let env = TestEnv::new("garbage");
    let path = env.path("registry.redb");
    let garbage: Vec<u8> = (0..10_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    let stderr = refuses_to_start(&path);
    assert!(
        stderr.contains("corrupt") && stderr.contains("registry.redb"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
}

#[test]
fn a_damaged_store_stops_the_daemon_naming_it_and_is_left_untouched() {
    let env = TestEnv::new("damaged");
    let path = env.path("registry.redb");
    let mut scheduler = start(&path);
    for index in 0..20 {
        schedule(&scheduler.url, &env.job(&format!("job{index}"), 1));
    }
    assert!(scheduler.terminate().success());
    // Flip bytes in every page after the header: whatever redb reads of
    // its committed trees fails its checksum.
    let mut bytes = std::fs::read(&path).unwrap();
    for offset in (4096 + 100..bytes.len()).step_by(4096) {
        bytes[offset] ^= 0xff;
    }
    std::fs::write(&path, &bytes).unwrap();
    let stderr = refuses_to_start(&path);
    assert!(
        stderr.contains("corrupt") && stderr.contains("registry.redb"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn stale_temporaries_are_removed_at_start_and_kills_leave_nothing_behind() {
    let env = TestEnv::new("leftovers");
    let dir = env.dir.path();
    let json = env.path("registry.json");
    // What the former JSON writer and an interrupted import leave.
    for stale in [".registry.json.4242.tmp", ".registry.json.redb.import.tmp"] {
        std::fs::write(dir.join(stale), b"partial").unwrap();
    }
    std::fs::write(dir.join(".unrelated.tmp"), b"mine").unwrap();
    let mut scheduler = start(&json);
    assert_eq!(
        files_in(dir),
        vec![".unrelated.tmp", "registry.json.redb"],
        "stale temporaries removed, nothing else"
    );
    for round in 0..3 {
        schedule(&scheduler.url, &env.job(&format!("job{round}"), 1));
        scheduler.kill9();
        assert_eq!(files_in(dir), vec![".unrelated.tmp", "registry.json.redb"]);
        scheduler = start(&json);
    }
    assert_eq!(registry_of(&scheduler.url).len(), 3);
}

/// Clients schedule distinct jobs while the scheduler is killed with
/// SIGKILL again and again; after each restart every job acknowledged so
/// far is in the registry, whole, and the store opened.
#[test]
fn a_kill_9_storm_during_concurrent_schedules_loses_no_acknowledged_job() {
    const CLIENTS: usize = 4;
    const KILLS: usize = 5;
    let env = Arc::new(TestEnv::new("storm"));
    let store = env.path("registry.redb");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let url = format!("http://{listen}");
    let start_here = || {
        Proc::start(
            "harpoon-scheduler",
            &["--listen", &listen, "--persist", &store],
        )
    };
    let mut scheduler = start_here();
    // hash → the job as sent, for every 202.
    let acknowledged: Arc<Mutex<BTreeMap<String, Value>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (env, acknowledged, stop) = (
                Arc::clone(&env),
                Arc::clone(&acknowledged),
                Arc::clone(&stop),
            );
            let schedule_url = format!("{url}/api/v0/schedule");
            std::thread::spawn(move || {
                let mut index = 0;
                while !stop.load(Ordering::Relaxed) {
                    let job = env.job(&format!("c{client}-j{index}"), 1);
                    let body = serde_json::to_vec(&job).unwrap();
                    match try_http("PUT", &schedule_url, Some(&body)) {
                        Ok((202, text)) => {
                            let reply: Value = serde_json::from_str(&text).unwrap();
                            let msg = reply["msg"].as_str().unwrap();
                            let hash = msg.split('(').nth(1).unwrap().split(')').next().unwrap();
                            acknowledged.lock().unwrap().insert(hash.to_owned(), job);
                            index += 1;
                        }
                        // Starting (503), or the connection died with the
                        // scheduler: not acknowledged, tried again under a
                        // new name so that no answer is ambiguous.
                        Ok(_) | Err(_) => {
                            index += 1;
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
            })
        })
        .collect();

    for kill in 0..KILLS {
        let before = acknowledged.lock().unwrap().len();
        wait_for(
            &format!("50 more acknowledged schedules before kill {kill}"),
            Duration::from_secs(60),
            || (acknowledged.lock().unwrap().len() >= before + 50).then_some(()),
        );
        scheduler.kill9();
        // Everything acknowledged up to the kill; later 202s come from the
        // next process and are checked at the next round.
        let expected = acknowledged.lock().unwrap().clone();
        scheduler = start_here();
        let registry = registry_of(&scheduler.url);
        for (hash, job) in &expected {
            let stored = registry
                .get(hash)
                .unwrap_or_else(|| panic!("kill {kill}: acknowledged job {hash} lost"));
            assert_eq!(stored, job, "kill {kill}: job {hash} is stored whole");
        }
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let total = acknowledged.lock().unwrap().len();
    assert!(total >= KILLS * 50, "{total} acknowledged");
    let registry = registry_of(&scheduler.url);
    for hash in acknowledged.lock().unwrap().keys() {
        assert!(
            registry.contains_key(hash),
            "acknowledged job {hash} lost at the end"
        );
    }
}
