//! The resource ledger: what the agent offers, and whether a container fits
//! next to what is already reserved. Bookkeeping only: nothing is enforced
//! on the processes.
//!
//! CPU is counted as the scheduler counts it, in milli-cores rounded up
//! (`harpoon_core::wire::cpu_millis`, for requests and the total alike), so
//! a container fits here exactly when the scheduler thinks it fits.

use harpoon_core::wire::{
    ContainerConfig, CpuTotalReserved, HostResources, TotalReserved, cpu_millis,
};

/// What the agent offers to containers.
#[derive(Clone, Debug)]
pub(crate) struct Ledger {
    /// As configured, for reports.
    cpu_total: f64,
    cpu_total_millis: u64,
    mem_total_mb: u64,
    volumes: Vec<String>,
}

/// What the containers on the agent have reserved, summed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reserved {
    pub cpu_millis: u64,
    pub mem_mb: u64,
}

impl Reserved {
    /// Adds the reservation of one container.
    pub fn add(&mut self, config: &ContainerConfig) {
        self.cpu_millis = self
            .cpu_millis
            .saturating_add(cpu_millis(config.resources.cpu));
        self.mem_mb = self.mem_mb.saturating_add(config.resources.mem);
    }
}

impl Ledger {
    pub fn new(cpu_total: f64, mem_total_mb: u64, volumes: Vec<String>) -> Ledger {
        Ledger {
            cpu_total,
            cpu_total_millis: cpu_millis(cpu_total),
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
                reserved: cores(reserved.cpu_millis),
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
        let cpu_free_millis = self.cpu_total_millis.saturating_sub(reserved.cpu_millis);
        let cpu_millis = cpu_millis(config.resources.cpu);
        if cpu_millis > cpu_free_millis {
            problems.push(format!(
                "needs {} cpu; {} of {} free",
                cores(cpu_millis),
                cores(cpu_free_millis),
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

/// Milli-cores as cores, for reports: `1500` is `1.5`.
fn cores(millis: u64) -> f64 {
    millis as f64 / 1000.0
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
            cpu_millis: 2500,
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

    #[test]
    fn cpu_is_counted_in_milli_cores_rounded_up() {
        let ledger = Ledger::new(0.003, 10, Vec::new());
        let mut reserved = Reserved::default();
        assert_eq!(ledger.check_fit(reserved, &config(0.0015, 1, &[])), Ok(()));
        reserved.add(&config(0.0015, 1, &[]));
        assert_eq!(ledger.report(reserved).cpus.reserved, 0.002);
        assert_eq!(
            ledger.check_fit(reserved, &config(0.0015, 1, &[])),
            Err("needs 0.002 cpu; 0.001 of 0.003 free".to_owned())
        );
        assert_eq!(ledger.check_fit(reserved, &config(0.001, 1, &[])), Ok(()));
    }
}
