//! Every scenario in `scenarios/`: its expectations and invariants hold, it
//! is deterministic (two runs, one trace hash), and its trace is kept as an
//! insta snapshot so that a behaviour change shows up as a reviewed diff.

use std::path::{Path, PathBuf};

use harpoon_sim::{run_checked, scenario};

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// Runs one scenario file and snapshots its trace and verdicts.
fn check(file: &str) {
    let path = scenarios_dir().join(file);
    let scenario = scenario::load(&path).unwrap_or_else(|error| panic!("{error}"));
    let report = run_checked(&scenario, scenario.seed, true);
    let snapshot = format!("{}\n{}", report.trace_text(false), report.render());
    let name = file.trim_end_matches(".toml");
    insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_snapshot!(name, snapshot);
    });
    assert!(
        report.passed(),
        "scenario {file} failed:\n{}\nreproduce: harpoon-sim run scenarios/{file} --seed {} --trace",
        report.render(),
        scenario.seed
    );
}

macro_rules! scenarios {
    ($($test:ident => $file:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check($file);
            }
        )*

        /// A scenario file without a test here would silently not run.
        #[test]
        fn every_scenario_file_has_a_test() {
            let listed = [$($file),*];
            let mut files: Vec<String> = std::fs::read_dir(scenarios_dir())
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".toml"))
                .collect();
            files.sort();
            for file in &files {
                assert!(listed.contains(&file.as_str()), "add {file} to the scenarios! list in sim/tests/scenarios.rs");
            }
            assert!(files.len() >= 15, "the project keeps at least 15 scenarios");
        }
    };
}

scenarios! {
    schedule_and_unschedule => "01-schedule-and-unschedule.toml",
    scale_across_agents => "02-scale-across-agents.toml",
    not_enough_capacity => "03-not-enough-capacity.toml",
    volume_constraints => "04-volume-constraints.toml",
    algorithm_least_used => "05-algorithm-least-used.toml",
    algorithm_spread => "06-algorithm-spread.toml",
    algorithm_bin_pack => "07-algorithm-bin-pack.toml",
    algorithm_random_fit => "08-algorithm-random-fit.toml",
    agent_crash_restart_before_abandon => "09-agent-crash-restart-before-abandon.toml",
    agent_crash_past_abandon => "10-agent-crash-past-abandon.toml",
    agent_wipe => "11-agent-wipe.toml",
    partition_and_heal => "12-partition-and-heal.toml",
    stream_drop => "13-stream-drop.toml",
    slow_agent_past_pending_timeout => "14-slow-agent-past-pending-timeout.toml",
    failing_starts_back_off => "15-failing-starts-back-off.toml",
    unschedule_during_failing_starts => "16-unschedule-during-failing-starts.toml",
    scheduler_crash_during_scheduling => "17-scheduler-crash-during-scheduling.toml",
    jobs_that_exit => "18-jobs-that-exit.toml",
    restart_policy => "19-restart-policy.toml",
    remove_agent => "20-remove-agent.toml",
    start_waits_for_the_create_answer => "21-start-waits-for-the-create-answer.toml",
    agent_retries_a_failed_start => "22-agent-retries-a-failed-start.toml",
    disk_fail_requests_wait_then_fail => "31-disk-fail-requests-wait-then-fail.toml",
    disk_fail_then_scheduler_crash => "32-disk-fail-then-scheduler-crash.toml",
    agent_fails_every_command => "33-agent-fails-every-command.toml",
    agent_never_confirms => "34-agent-never-confirms.toml",
    stream_flaps_after_each_first_event => "35-stream-flaps-after-each-first-event.toml",
    stray_containers_on_an_agent_that_never_confirms => "36-stray-containers-on-an-agent-that-never-confirms.toml",
    container_on_two_swept_agents => "37-container-on-two-swept-agents.toml",
    stream_drops_keep_one_silence_timer_per_agent => "38-stream-drops-keep-one-silence-timer-per-agent.toml",
    check_and_set_racing_schedules => "50-check-and-set-racing-schedules.toml",
    why_until_capacity_appears => "51-why-until-capacity-appears.toml",
    agent_restarts_smaller => "52-agent-restarts-smaller.toml",
    agent_loses_some_containers => "53-agent-loses-some-containers.toml",
    stream_repeats_its_first_event => "54-stream-repeats-its-first-event.toml",
    slow_disk => "55-slow-disk.toml",
    agent_restarts_smaller_under_creates_in_flight => "56-agent-restarts-smaller-under-creates-in-flight.toml",
    rollout_clean => "40-rollout-clean.toml",
    rollout_new_version_fails_to_start => "41-rollout-new-version-fails-to-start.toml",
    rollout_new_version_exits_after_30s => "42-rollout-new-version-exits-after-30s.toml",
    rollout_scheduler_crash => "43-rollout-scheduler-crash.toml",
    rollout_agent_partition => "44-rollout-agent-partition.toml",
    rollout_abort => "45-rollout-abort.toml",
    drain_during_a_partition => "46-drain-during-a-partition.toml",
    rollout_no_room_max_unavailable_1 => "47-rollout-no-room-max-unavailable-1.toml",
    rollout_no_room_max_unavailable_0 => "48-rollout-no-room-max-unavailable-0.toml",
    rollout_different_scales => "49-rollout-different-scales.toml",
}
