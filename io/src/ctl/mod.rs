//! `harpoonctl`: the command-line client of the scheduler API, built on
//! ureq (blocking HTTP: a command-line tool has nothing to do meanwhile).

mod migrate;
mod plan;
mod rollouts;
mod table;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use harpoon_core::wire::{ContainerStatus, JobConfig, RpcReply, StateEvent};

pub use plan::{render_plan, render_why};
pub use rollouts::RolloutOptions;
pub use table::Table;

/// Why a command failed; every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// The scheduler did not answer.
    #[error(
        "cannot reach the scheduler at {url}: {detail} (is it running? set --scheduler or HARPOON_SCHEDULER)"
    )]
    Unreachable {
        /// The scheduler's URL.
        url: String,
        /// What failed.
        detail: String,
    },
    /// The scheduler answered with an error.
    #[error("the scheduler refused: {msg} (HTTP {status})")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The scheduler's message.
        msg: String,
    },
    /// A local file could not be used.
    #[error("{0}")]
    File(String),
    /// A migration did not complete; the message says what was undone.
    #[error("migration failed: {0}")]
    Migration(String),
    /// An answer could not be decoded.
    #[error("the scheduler's answer is not what was expected: {0}")]
    BadAnswer(String),
}

/// A client of one scheduler.
#[derive(Debug)]
pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the scheduler at `base` (e.g. `http://127.0.0.1:4444`).
    pub fn new(base: &str, token: Option<String>) -> Client {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .build()
            .into();
        Client {
            base: base.trim_end_matches('/').to_owned(),
            token,
            agent,
        }
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(u16, String), CtlError> {
        let url = format!("{}{path}", self.base);
        let unreachable = |error: ureq::Error| CtlError::Unreachable {
            url: self.base.clone(),
            detail: error.to_string(),
        };
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .header("content-type", "application/json")
            .body(body.unwrap_or_default().to_vec())
            .map_err(|error| CtlError::Unreachable {
                url: url.clone(),
                detail: error.to_string(),
            })?;
        let mut response = self.agent.run(request).map_err(unreachable)?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(unreachable)?;
        Ok((status, text))
    }

    fn rpc(&self, path: &str, body: Option<&[u8]>) -> Result<String, CtlError> {
        let (status, text) = self.call("PUT", path, body)?;
        let reply: RpcReply = serde_json::from_str(&text)
            .map_err(|_| CtlError::BadAnswer(format!("HTTP {status}: {}", text.trim())))?;
        if (200..300).contains(&status) {
            Ok(reply.msg)
        } else {
            Err(CtlError::Refused {
                status,
                msg: reply.msg,
            })
        }
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, CtlError> {
        let (status, text) = self.call("GET", path, None)?;
        if !(200..300).contains(&status) {
            let msg = serde_json::from_str::<RpcReply>(&text)
                .map(|r| r.msg)
                .unwrap_or(text);
            return Err(CtlError::Refused { status, msg });
        }
        serde_json::from_str(&text).map_err(|error| CtlError::BadAnswer(error.to_string()))
    }

    fn post_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &[u8],
    ) -> Result<T, CtlError> {
        let (status, text) = self.call("POST", path, Some(body))?;
        if !(200..300).contains(&status) {
            let msg = serde_json::from_str::<RpcReply>(&text)
                .map(|r| r.msg)
                .unwrap_or(text);
            return Err(CtlError::Refused { status, msg });
        }
        serde_json::from_str(&text).map_err(|error| CtlError::BadAnswer(error.to_string()))
    }

    /// `schedule FILE [--index N]`: with an index, only if the registry is
    /// still at it (the index a plan gave).
    pub fn schedule(&self, file: &Path, index: Option<u64>) -> Result<String, CtlError> {
        let body = read_job_file(file)?;
        self.rpc(&with_index("/api/v0/schedule", index), Some(&body))
    }

    /// `unschedule FILE|HASH [--index N]`: a path to a job file, or a job
    /// hash.
    pub fn unschedule(&self, target: &str, index: Option<u64>) -> Result<String, CtlError> {
        let path = Path::new(target);
        if path.exists() {
            let body = read_job_file(path)?;
            self.rpc(&with_index("/api/v0/unschedule", index), Some(&body))
        } else {
            let path = format!("/api/v0/unschedule/{target}");
            self.rpc(&with_index(&path, index), None)
        }
    }

    /// `registry`: the desired jobs as a table.
    pub fn registry(&self) -> Result<Table, CtlError> {
        let jobs: BTreeMap<String, JobConfig> = self.get("/api/v0/registry")?;
        let mut table = Table::new(&["HASH", "JOB", "PRODUCT", "ENV", "SCALE", "CPU", "MEM"]);
        for (hash, job) in jobs {
            let c = &job.container;
            table.row(vec![
                hash,
                c.job.clone(),
                c.product.clone(),
                c.environment.clone(),
                job.scale.to_string(),
                cores(c.resources.cpu),
                format!("{} MB", c.resources.mem),
            ]);
        }
        Ok(table)
    }

    /// `ps`: every container the scheduler knows of.
    pub fn ps(&self) -> Result<Table, CtlError> {
        let proxy: BTreeMap<String, StateEvent> = self.get("/api/v0/proxy")?;
        let mut table = Table::new(&["AGENT", "CONTAINER", "JOB", "STATUS", "CPU", "MEM"]);
        for (agent, event) in proxy {
            for (id, instance) in event.containers {
                table.row(vec![
                    agent.clone(),
                    id,
                    instance.config.job.clone(),
                    instance.status.to_string(),
                    cores(instance.config.resources.cpu),
                    format!("{} MB", instance.config.resources.mem),
                ]);
            }
        }
        Ok(table)
    }

    /// `agents`: resources used and total per agent.
    pub fn agents(&self) -> Result<Table, CtlError> {
        let proxy: BTreeMap<String, StateEvent> = self.get("/api/v0/proxy")?;
        let mut table = Table::new(&[
            "AGENT",
            "CONTAINERS",
            "RUNNING",
            "CPU USED/TOTAL",
            "MEM USED/TOTAL",
            "VOLUMES",
        ]);
        for (agent, event) in proxy {
            let running = event
                .containers
                .values()
                .filter(|c| c.status == ContainerStatus::Running)
                .count();
            let r = &event.resources;
            table.row(vec![
                agent,
                event.containers.len().to_string(),
                running.to_string(),
                format!("{}/{}", cores(r.cpus.reserved), cores(r.cpus.total)),
                format!("{}/{} MB", r.mem.reserved, r.mem.total),
                r.volumes.join(","),
            ]);
        }
        Ok(table)
    }
}

/// `path?index=N`, or `path` without an index.
fn with_index(path: &str, index: Option<u64>) -> String {
    match index {
        Some(index) => format!("{path}?index={index}"),
        None => path.to_owned(),
    }
}

/// CPU cores for a person: at most two decimals, no trailing zeros.
fn cores(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn read_job_file(path: &Path) -> Result<Vec<u8>, CtlError> {
    let bytes = std::fs::read(path)
        .map_err(|error| CtlError::File(format!("cannot read {}: {error}", path.display())))?;
    // Decode locally first, so a file that is not a job says so clearly.
    serde_json::from_slice::<JobConfig>(&bytes).map_err(|error| {
        CtlError::File(format!("{} is not a job config: {error}", path.display()))
    })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::cores;

    #[test]
    fn cores_read_well() {
        assert_eq!(cores(0.6666666666666666), "0.67");
        assert_eq!(cores(4.0), "4");
        assert_eq!(cores(0.5), "0.5");
        assert_eq!(cores(0.0), "0");
    }
}
