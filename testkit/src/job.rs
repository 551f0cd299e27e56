//! Job and container-config JSON, in the wire format's shape.

use serde_json::{Value, json};

/// A job built from the few choices tests and benchmarks make; every other
/// field has the value a plain job has (no ports, env, volumes or health
/// checks, `restart: no`, one second of grace).
#[derive(Clone, Debug)]
pub struct JobJson {
    /// `job`.
    pub name: String,
    /// `product`.
    pub product: String,
    /// `environment`.
    pub environment: String,
    /// `scale` (of a job; a container config has none).
    pub scale: u64,
    /// `artifact_url` (empty for none).
    pub artifact_url: String,
    /// `command.working_dir`.
    pub working_dir: String,
    /// `command.exec`.
    pub exec: Vec<String>,
    /// `resources.mem`, in MB.
    pub mem_mb: u64,
    /// `resources.cpu`.
    pub cpu: f64,
}

impl JobJson {
    /// A job of one task that sleeps until stopped, in `/`, with 16 MB and
    /// 0.05 cpu.
    pub fn new(name: &str) -> JobJson {
        JobJson {
            name: name.to_owned(),
            product: "test".to_owned(),
            environment: "test".to_owned(),
            scale: 1,
            artifact_url: String::new(),
            working_dir: "/".to_owned(),
            exec: ["/bin/sh", "-c", "exec sleep 3600"]
                .map(str::to_owned)
                .to_vec(),
            mem_mb: 16,
            cpu: 0.05,
        }
    }

    /// With `product` and `environment`.
    pub fn product(mut self, product: &str, environment: &str) -> JobJson {
        self.product = product.to_owned();
        self.environment = environment.to_owned();
        self
    }

    /// With `scale` tasks.
    pub fn scale(mut self, scale: u64) -> JobJson {
        self.scale = scale;
        self
    }

    /// Running `exec`.
    pub fn exec(mut self, exec: &[&str]) -> JobJson {
        self.exec = exec.iter().map(|arg| (*arg).to_owned()).collect();
        self
    }

    /// From this artifact, in this working directory.
    pub fn artifact(mut self, artifact_url: &str, working_dir: &str) -> JobJson {
        self.artifact_url = artifact_url.to_owned();
        self.working_dir = working_dir.to_owned();
        self
    }

    /// Needing `mem_mb` and `cpu`.
    pub fn resources(mut self, mem_mb: u64, cpu: f64) -> JobJson {
        self.mem_mb = mem_mb;
        self.cpu = cpu;
        self
    }

    /// The job, as `PUT /api/v0/schedule` takes it.
    pub fn json(&self) -> Value {
        let mut job = self.container_config();
        job["scale"] = json!(self.scale);
        job
    }

    /// The container config of its tasks, as an agent's `PUT
    /// /containers/{id}` takes it.
    pub fn container_config(&self) -> Value {
        json!({
            "job": self.name, "product": self.product, "environment": self.environment,
            "artifact_url": self.artifact_url,
            "command": { "working_dir": self.working_dir, "exec": self.exec },
            "resources": { "mem": self.mem_mb, "cpu": self.cpu },
            "grace": { "startup": "1s", "shutdown": "1s" },
            "restart": "no", "health_checks": [], "ports": {}, "env": {},
            "storage": { "tmp": {}, "volumes": {} }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_is_its_container_config_with_a_scale() {
        let job = JobJson::new("web").scale(3).resources(64, 0.5);
        let mut config = job.json();
        assert_eq!(config["scale"], 3);
        assert_eq!(config["resources"], json!({ "mem": 64, "cpu": 0.5 }));
        config.as_object_mut().unwrap().remove("scale");
        assert_eq!(config, job.container_config());
    }
}
