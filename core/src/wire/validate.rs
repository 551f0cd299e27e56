//! Validation of job and container configs, reporting every problem at once
//! in the wire format's style: `scale of 0 is invalid; "product" not set`.

use std::fmt;

use super::{
    CPU_MIN_CORES, ContainerConfig, JobConfig, RestartPolicy, WireDuration, validate_job_name,
};

/// Every problem found in one config, in a stable order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<String>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

impl std::error::Error for ValidationErrors {}

const MS: u64 = 1_000_000;
const SECOND: u64 = 1_000 * MS;

impl JobConfig {
    /// Checks the job, returning every problem at once.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut problems = Vec::new();
        if !(1..=Self::MAX_SCALE).contains(&self.scale) {
            problems.push(format!("scale of {} is invalid", self.scale));
        }
        self.container.collect_problems(&mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(problems))
        }
    }
}

impl ContainerConfig {
    /// Checks the container config, returning every problem at once.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut problems = Vec::new();
        self.collect_problems(&mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(problems))
        }
    }

    fn collect_problems(&self, problems: &mut Vec<String>) {
        for (name, value) in [
            ("product", &self.product),
            ("environment", &self.environment),
            ("job", &self.job),
        ] {
            if value.is_empty() {
                problems.push(format!("{name:?} not set"));
            }
        }
        // The job name starts every container ID, which travels in URL
        // paths and names files on agents: the agents' own rule applies.
        if !self.job.is_empty()
            && let Err(error) = validate_job_name(&self.job)
        {
            problems.push(format!("job name {} {error}", quoted_start(&self.job)));
        }
        if self.command.working_dir.is_empty() {
            problems.push("\"command.working_dir\" not set".to_owned());
        }
        if self.command.exec.get().is_empty() {
            problems.push("\"command.exec\" not set".to_owned());
        }
        let cpu = self.resources.cpu;
        if !(cpu >= CPU_MIN_CORES && cpu.is_finite()) {
            problems.push(format!(
                "resources.cpu of {cpu} is invalid (must be at least {CPU_MIN_CORES}: cpu is \
                 counted in whole milli-cores, rounded up)"
            ));
        }
        check_range(
            problems,
            "grace.startup",
            self.grace.startup,
            250 * MS,
            30 * SECOND,
        );
        check_range(
            problems,
            "grace.shutdown",
            self.grace.shutdown,
            250 * MS,
            10 * SECOND,
        );
        if let RestartPolicy::Other(other) = &self.restart
            && !other.is_empty()
        {
            problems.push(format!(
                "restart policy {other:?} is invalid (use \"no\", \"on-failure\" or \"always\")"
            ));
        }
        for (path, size) in self.storage.tmp.get().iter() {
            if *size < -1 {
                problems.push(format!(
                    "storage.tmp {path:?} of {size} MB is invalid (-1 means unlimited)"
                ));
            }
        }
        let ports = self.ports.get();
        for (i, check) in self.health_checks.get().iter().enumerate() {
            let at = format!("health_checks[{i}]");
            match check.protocol.as_str() {
                "HTTP" => {
                    if check.http_path.as_deref().unwrap_or("").is_empty() {
                        problems.push(format!("{at}: HTTP check needs \"http_path\""));
                    }
                    if check
                        .http_acceptable_responses
                        .as_deref()
                        .unwrap_or(&[])
                        .is_empty()
                    {
                        problems.push(format!(
                            "{at}: HTTP check needs \"http_acceptable_responses\""
                        ));
                    }
                }
                "TCP" => {}
                other => problems.push(format!(
                    "{at}: protocol {other:?} is invalid (use \"HTTP\" or \"TCP\")"
                )),
            }
            if !ports.contains_key(&check.port) {
                problems.push(format!(
                    "{at}: port {:?} is not a key of \"ports\"",
                    check.port
                ));
            }
            check_range(
                problems,
                &format!("{at}.initial_delay"),
                check.initial_delay,
                0,
                30 * SECOND,
            );
            check_range(
                problems,
                &format!("{at}.timeout"),
                check.timeout,
                0,
                3 * SECOND,
            );
            check_range(
                problems,
                &format!("{at}.interval"),
                check.interval,
                0,
                30 * SECOND,
            );
        }
    }
}

/// `text` quoted, cut after its first 64 characters, so that the problem
/// with a 100,000-letter name does not repeat it whole.
fn quoted_start(text: &str) -> String {
    const SHOWN: usize = 64;
    match text.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

fn check_range(problems: &mut Vec<String>, name: &str, value: WireDuration, min: u64, max: u64) {
    if !(min..=max).contains(&value.as_nanos()) {
        problems.push(format!(
            "{name} of {value} is invalid (must be within {}..{})",
            WireDuration::from_nanos(min),
            WireDuration::from_nanos(max)
        ));
    }
}
