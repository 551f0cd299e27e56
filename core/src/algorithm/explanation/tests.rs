//! The explanation's counts add up, and its text for typical cases.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::{Candidate, Constraint, Explanation, thousands};
use crate::algorithm::{AgentSlot, Demand};
use crate::ids::AgentId;
use crate::wire::JobHash;

fn slot(id: &str, cpu_free_millis: u64, mem_free_mb: u64, volumes: &[&str]) -> AgentSlot {
    AgentSlot {
        id: AgentId::new(id),
        cpu_total_millis: 8000,
        mem_total_mb: 16384,
        cpu_used_millis: 8000 - cpu_free_millis,
        mem_used_mb: 16384 - mem_free_mb,
        volumes: volumes.iter().map(|v| (*v).to_owned()).collect(),
        containers: 0,
        job_instances: Default::default(),
    }
}

fn demand(cpu_millis: u64, mem_mb: u64, volumes: &[&str]) -> Demand {
    Demand {
        job: JobHash::new("web-abcdef0"),
        cpu_millis,
        mem_mb,
        volumes: volumes.iter().map(|v| (*v).to_owned()).collect(),
    }
}

fn explain(demand: &Demand, slots: &[AgentSlot], down: &[AgentId]) -> Explanation {
    let candidates = slots
        .iter()
        .map(Candidate::Placeable)
        .chain(down.iter().map(Candidate::NotConnected));
    Explanation::of(demand, candidates)
}

#[test]
fn numbers_read_with_thousands_separators() {
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1000), "1,000");
    assert_eq!(thousands(6120), "6,120");
    assert_eq!(thousands(1_234_567), "1,234,567");
}

#[test]
fn an_agent_is_counted_under_the_first_constraint_it_fails() {
    // Lacks the volume, cpu and memory: counted as the volume only.
    let agents = [slot("a", 0, 0, &[])];
    let explanation = explain(&demand(1000, 512, &["/data"]), &agents, &[]);
    assert_eq!(
        explanation.ruled_out.into_iter().collect::<Vec<_>>(),
        [(Constraint::Volume("/data".into()), 1)]
    );
    // Lacks cpu and memory: counted as cpu.
    let explanation = explain(&demand(1000, 512, &[]), &agents, &[]);
    assert_eq!(explanation.main_constraint(), Some(&Constraint::Cpu));
}

/// The text of typical explanations, reviewed as a snapshot.
#[test]
fn typical_explanations_read_well() {
    let mut texts = Vec::new();
    let mut case = |title: &str, demand: Demand, slots: Vec<AgentSlot>, down: Vec<AgentId>| {
        let explanation = explain(&demand, &slots, &down);
        texts.push(format!("{title}:\n  {explanation}"));
    };
    // The example, at scale: 10,000 agents.
    let mut slots = vec![slot("a17", 1500, 8192, &["/data/ssd"])];
    for i in 0..6119 {
        slots.push(slot(&format!("c{i:05}"), 500, 8192, &["/data/ssd"]));
    }
    for i in 0..3870 {
        slots.push(slot(&format!("m{i:05}"), 4000, 256, &["/data/ssd"]));
    }
    for i in 0..10 {
        slots.push(slot(&format!("v{i:05}"), 8000, 16384, &[]));
    }
    case(
        "cpu, memory and a volume, 10,000 agents",
        demand(2000, 512, &["/data/ssd"]),
        slots,
        vec![],
    );
    case(
        "one agent short of cpu",
        demand(2000, 512, &[]),
        vec![slot("a1", 1500, 8192, &[])],
        vec![],
    );
    case(
        "short of both on the closest",
        demand(4000, 4096, &[]),
        vec![slot("a1", 1000, 1024, &[]), slot("a2", 3000, 2048, &[])],
        vec![],
    );
    case(
        "a volume nobody offers",
        demand(500, 128, &["/data/gpu"]),
        vec![
            slot("a1", 8000, 16384, &["/data/ssd"]),
            slot("a2", 8000, 16384, &[]),
        ],
        vec![],
    );
    case(
        "every agent down",
        demand(500, 128, &[]),
        vec![],
        vec![AgentId::new("a1"), AgentId::new("a2")],
    );
    case(
        "one agent down beside a full one",
        demand(500, 128, &[]),
        vec![slot("a3", 0, 16384, &[])],
        vec![AgentId::new("a1")],
    );
    case(
        "capacity appeared: it fits now",
        demand(500, 128, &[]),
        vec![slot("a1", 8000, 16384, &[]), slot("a2", 0, 0, &[])],
        vec![],
    );
    case("no agents at all", demand(500, 128, &[]), vec![], vec![]);
    let avoided = AgentId::new("a2");
    let explanation = Explanation::of(
        &demand(500, 128, &[]),
        [
            Candidate::Avoided(&avoided),
            Candidate::Placeable(&slot("a3", 100, 16384, &[])),
        ],
    );
    texts.push(format!("an avoided agent:\n  {explanation}"));
    insta::assert_snapshot!(texts.join("\n"));
}

fn arbitrary_candidate() -> impl Strategy<Value = (u8, u64, u64, u8)> {
    // kind (0 down, 1 avoided, else placeable), free cpu, free memory,
    // which of two volumes it offers (bits).
    (0u8..6, 0u64..4000, 0u64..4096, 0u8..4)
}

proptest! {
    /// Every agent evaluated is counted exactly once: as fitting, or under
    /// one constraint.
    #[test]
    fn the_counts_add_up_to_the_agents_evaluated(
        agents in proptest::collection::vec(arbitrary_candidate(), 0..40),
        cpu in 0u64..4000,
        mem in 0u64..4096,
        needs in 0u8..4,
    ) {
        let volumes = |bits: u8| -> BTreeSet<String> {
            ["/v1", "/v2"]
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, v)| (*v).to_owned())
                .collect()
        };
        let ids: Vec<AgentId> = (0..agents.len()).map(|i| AgentId::new(&format!("a{i:02}"))).collect();
        let slots: Vec<AgentSlot> = agents
            .iter()
            .zip(&ids)
            .map(|(&(_, cpu_free, mem_free, offers), id)| AgentSlot {
                volumes: volumes(offers),
                ..slot(id.as_str(), cpu_free, mem_free, &[])
            })
            .collect();
        let candidates = agents.iter().zip(&ids).zip(&slots).map(|((&(kind, ..), id), slot)| match kind {
            0 => Candidate::NotConnected(id),
            1 => Candidate::Avoided(id),
            _ => Candidate::Placeable(slot),
        });
        let demand = Demand { volumes: volumes(needs), ..demand(cpu, mem, &[]) };
        let explanation = Explanation::of(&demand, candidates);
        let ruled_out: u64 = explanation.ruled_out.values().sum();
        prop_assert_eq!(explanation.evaluated, agents.len() as u64);
        prop_assert_eq!(explanation.fit + ruled_out, explanation.evaluated);
        let placeable_fitting = agents
            .iter()
            .zip(&slots)
            .filter(|((kind, ..), slot)| *kind >= 2 && slot.fits(&demand))
            .count() as u64;
        prop_assert_eq!(explanation.fit, placeable_fitting);
        // A closest agent is named exactly when nothing fits and some
        // agent is placeable.
        let placeable = agents.iter().any(|(kind, ..)| *kind >= 2);
        prop_assert_eq!(explanation.closest.is_some(), explanation.fit == 0 && placeable);
    }
}
