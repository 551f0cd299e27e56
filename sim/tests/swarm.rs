//! A bounded slice of the swarm, so that `cargo test` exercises generated
//! worlds with every fault kind; CI runs a larger slice through the binary.

use harpoon_sim::swarm::{reproduce_command, run_seeds};

#[test]
fn a_slice_of_the_swarm_holds_every_invariant_and_converges() {
    let outcomes = run_seeds(0, 50, 2, false, &|_| {});
    assert_eq!(outcomes.len(), 50);
    let failures: Vec<String> = outcomes
        .iter()
        .filter(|outcome| !outcome.report.passed())
        .map(|outcome| {
            let why: Vec<String> = outcome
                .report
                .failures()
                .map(|verdict| format!("{}: {}", verdict.what, verdict.detail))
                .collect();
            format!(
                "seed {}: {}\n  reproduce: {}",
                outcome.seed,
                why.join("; "),
                reproduce_command(outcome.seed)
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} failing seeds:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
