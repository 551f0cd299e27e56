//! The resource ledger: what the agent offers, and whether a container fits
//! next to what is already reserved. Bookkeeping only: nothing is enforced
//! on the processes.

use harpoon_core::wire::{ContainerConfig, CpuTotalReserved, HostResources, TotalReserved};

/// Reservations below this are rounding noise from adding up fractional
/// CPU counts such as 0.1 + 0.2.
const CPU_EPSILON: f64 = 1e-9;

/// What the agent offers to containers.
#[derive(Clone, Debug)]
pub(crate) struct Ledger {
    cpu_total: f64,
    mem_total_mb: u64,
    volumes: Vec<String>,
}

/// What the containers on the agent have reserved, summed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Reserved {
    pub cpu: f64,
    pub mem_mb: u64,
}

impl Reserved {
    /// Adds the reservation of one container.
    pub fn add(&mut self, config: &ContainerConfig) {
        self.cpu += config.resources.cpu.max(0.0);
        self.mem_mb = self.mem_mb.saturating_add(config.resources.mem);
    }
}

impl Ledger {
    pub fn new(cpu_total: f64, mem_total_mb: u64, volumes: Vec<String>) -> Ledger {
        Ledger {
            cpu_total,
            mem_total_mb,
            volumes,
        }
    }

    /// The wire view of the totals and `reserved`.
    pub fn report(&self, reserved: Reserved) -> HostResources {
        HostResources {
            mem: TotalReserved {
                total: self.mem_total_mb,
                reserved: reserved.mem_mb,
            },
            cpus: CpuTotalReserved {
                total: self.cpu_total,
                reserved: round_cpu(reserved.cpu),
            },
            // Storage is not accounted for: scratch space lives in the data
            // directory, whose size the agent does not manage.
            storage: TotalReserved::default(),
            volumes: self.volumes.clone(),
        }
    }

    /// Checks that `config` fits next to `reserved`, naming every resource
    /// that does not, e.g. `needs 2 cpu; 1.5 of 4 free`.
    pub fn check_fit(&self, reserved: Reserved, config: &ContainerConfig) -> Result<(), String> {
        let mut problems = Vec::new();
        let cpu_free = (self.cpu_total - reserved.cpu).max(0.0);
        let cpu = config.resources.cpu;
        if cpu > cpu_free + CPU_EPSILON {
            problems.push(format!(
                "needs {cpu} cpu; {} of {} free",
                round_cpu(cpu_free),
                self.cpu_total
            ));
        }
        let mem_free = self.mem_total_mb.saturating_sub(reserved.mem_mb);
        let mem = config.resources.mem;
        if mem > mem_free {
            problems.push(format!(
                "needs {mem} MB mem; {mem_free} of {} MB free",
                self.mem_total_mb
            ));
        }
        for (container_path, host_path) in config.storage.volumes.get().iter() {
            if !self.volumes.contains(host_path) {
                problems.push(format!(
                    "volume {host_path:?} (for {container_path:?}) is not offered by this agent (offered: {})",
                    self.offered_volumes()
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    fn offered_volumes(&self) -> String {
        if self.volumes.is_empty() {
            "none".to_owned()
        } else {
            self.volumes.join(", ")
        }
    }
}

/// Rounds a CPU count to a millionth, so that sums such as 0.1 + 0.2 are
/// reported as `0.3`, not `0.30000000000000004`.
fn round_cpu(cpu: f64) -> f64 {
    (cpu * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use harpoon_core::wire::Field;

    fn config(cpu: f64, mem: u64, volumes: &[(&str, &str)]) -> ContainerConfig {
        let mut config = ContainerConfig::default();
        config.resources.cpu = cpu;
        config.resources.mem = mem;
        config.storage.volumes = Field::Present(
            volumes
                .iter()
                .map(|(c, h)| (c.to_string(), h.to_string()))
                .collect(),
        );
        config
    }

    #[test]
    fn names_every_resource_that_does_not_fit() {
        let ledger = Ledger::new(4.0, 1024, vec!["/srv/data".to_owned()]);
        let reserved = Reserved {
            cpu: 2.5,
            mem_mb: 1000,
        };
        assert_eq!(
            ledger.check_fit(reserved, &config(2.0, 100, &[("/data", "/nope")])),
            Err(
                "needs 2 cpu; 1.5 of 4 free; needs 100 MB mem; 24 of 1024 MB free; \
                 volume \"/nope\" (for \"/data\") is not offered by this agent (offered: /srv/data)"
                    .to_owned()
            )
        );
        assert_eq!(
            ledger.check_fit(reserved, &config(1.5, 24, &[("/d", "/srv/data")])),
            Ok(())
        );
    }

    #[test]
    fn fractional_sums_fit_exactly_and_report_cleanly() {
        let ledger = Ledger::new(0.3, 10, Vec::new());
        let mut reserved = Reserved::default();
        reserved.add(&config(0.1, 1, &[]));
        reserved.add(&config(0.1, 1, &[]));
        assert_eq!(ledger.check_fit(reserved, &config(0.1, 1, &[])), Ok(()));
        reserved.add(&config(0.1, 1, &[]));
        assert_eq!(ledger.report(reserved).cpus.reserved, 0.3);
    }
}
