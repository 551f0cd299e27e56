//! `/metrics`: the core's counters and gauges in the Prometheus text format,
//! encoded with the `prometheus-client` crate.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::messages::MetricsSnapshot;

/// Encodes a snapshot as Prometheus/OpenMetrics text.
pub fn encode(snapshot: &MetricsSnapshot) -> String {
    let mut registry = Registry::with_prefix("harpoon");
    registry.register_collector(Box::new(SnapshotCollector(snapshot.clone())));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .expect("writing to a String cannot fail");
    text
}

#[derive(Debug)]
struct SnapshotCollector(MetricsSnapshot);

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let c = &self.0.counters;
        let counters: [(&str, &str, u64); 14] = [
            (
                "schedule_requests",
                "Schedule requests received.",
                c.schedule_requests,
            ),
            (
                "unschedule_requests",
                "Unschedule requests received.",
                c.unschedule_requests,
            ),
            ("reconciles", "Reconciles run.", c.reconciles),
            ("tasks_placed", "Tasks placed on an agent.", c.tasks_placed),
            (
                "placement_failures",
                "Placement attempts that found no agent.",
                c.tasks_unplaced,
            ),
            (
                "commands_issued",
                "Agent commands issued.",
                c.commands_issued,
            ),
            (
                "commands_confirmed",
                "Agent commands confirmed by the event stream.",
                c.commands_confirmed,
            ),
            (
                "commands_failed",
                "Agent commands refused, undeliverable or unconfirmed.",
                c.commands_failed,
            ),
            (
                "agent_connections_opened",
                "Agent event streams opened.",
                c.agent_connections_opened,
            ),
            (
                "agent_connections_lost",
                "Agent event streams lost.",
                c.agent_connections_lost,
            ),
            (
                "agents_abandoned",
                "Agents abandoned past the abandon timeout.",
                c.agents_abandoned,
            ),
            (
                "events_received",
                "Agent events received.",
                c.events_received,
            ),
            (
                "registry_writes",
                "Registry writes issued.",
                c.registry_writes,
            ),
            (
                "registry_write_failures",
                "Registry writes that failed.",
                c.registry_write_failures,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        // Rollouts by the status they reached: one family, a label each.
        let mut family = encoder.encode_descriptor(
            "rollouts",
            "Rollouts accepted (started) and ended, by status.",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (status, value) in [
            ("started", c.rollouts_started),
            ("succeeded", c.rollouts_succeeded),
            ("reverted", c.rollouts_reverted),
            ("failed", c.rollouts_failed),
            ("aborted", c.rollouts_aborted),
        ] {
            let labels = [("status".to_owned(), status.to_owned())];
            ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
        }
        let s = &self.0;
        let gauges: [(&str, &str, u64); 9] = [
            (
                "rollouts_running",
                "Rollouts replacing tasks now.",
                s.rollouts_running,
            ),
            (
                "agents_draining",
                "Agents being drained.",
                s.agents_draining,
            ),
            (
                "agents_connected",
                "Agents whose event stream is open and synced.",
                s.agents_connected,
            ),
            ("agents_known", "Agents discovery lists.", s.agents_known),
            (
                "agents_avoided",
                "Agents placement avoids after failed or unconfirmed commands.",
                s.agents_avoided,
            ),
            (
                "tasks_desired",
                "Tasks the registry asks for.",
                s.tasks_desired,
            ),
            (
                "tasks_running",
                "Instances agents report running.",
                s.tasks_running,
            ),
            (
                "tasks_pending",
                "Instances with a command pending.",
                s.tasks_pending,
            ),
            (
                "tasks_unplaced",
                "Tasks no agent could take at the last reconcile.",
                s.tasks_unplaced,
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        // One series per constraint: a bounded label set, every label
        // present (zero included) so that a dashboard sees a stable set.
        let mut family = encoder.encode_descriptor(
            "tasks_unplaced_by_reason",
            "Tasks no agent could take, by the constraint that binds them.",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (reason, value) in &s.unplaced_by_reason {
            let gauge = ConstGauge::new(i64::try_from(*value).unwrap_or(i64::MAX));
            gauge.encode(family.encode_family(&[("reason", *reason)])?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_counters_and_gauges() {
        let mut snapshot = MetricsSnapshot::default();
        snapshot.counters.schedule_requests = 3;
        snapshot.tasks_running = 7;
        snapshot.agents_avoided = 1;
        snapshot.unplaced_by_reason = vec![("cpu", 4), ("volume", 0)];
        let text = encode(&snapshot);
        assert!(
            text.contains("harpoon_tasks_unplaced_by_reason{reason=\"cpu\"} 4"),
            "{text}"
        );
        assert!(
            text.contains("harpoon_tasks_unplaced_by_reason{reason=\"volume\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE harpoon_schedule_requests counter"),
            "{text}"
        );
        assert!(text.contains("harpoon_schedule_requests_total 3"), "{text}");
        assert!(text.contains("harpoon_tasks_running 7"), "{text}");
        assert!(text.contains("harpoon_agents_avoided 1"), "{text}");
        assert!(text.trim_end().ends_with("# EOF"), "{text}");
    }
}
