//! A blocking HTTP client for tests and benchmarks, and `/metrics`.

use std::time::Duration;

use serde_json::Value;

/// A blocking client (connections are reused) that reports every status
/// as a value and panics only when a request cannot be sent at all.
#[derive(Clone, Debug)]
pub struct Client {
    agent: ureq::Agent,
}

impl Client {
    /// A client whose requests fail after `timeout` in all.
    pub fn new(timeout: Duration) -> Client {
        Client {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(timeout))
                .build()
                .into(),
        }
    }

    /// Sends one request; returns its status and body.
    pub fn request(
        &self,
        method: &str,
        url: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        let mut request = ureq::http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(body.unwrap_or_default().to_vec())
            .expect("a well-formed request");
        let mut response = self
            .agent
            .run(request)
            .unwrap_or_else(|error| panic!("{method} {url}: {error}"));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, text)
    }

    /// `GET url`, which must answer 200 with JSON.
    pub fn get_json(&self, url: &str) -> Value {
        let (status, text) = self.request("GET", url, None, &[]);
        assert_eq!(status, 200, "GET {url}: {text}");
        serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("GET {url} is not JSON ({error}): {text}"))
    }

    /// An unlabelled value of the scheduler at `url`'s `/metrics`, if it
    /// answers and has it (see [`metric_value`]).
    pub fn metric(&self, url: &str, name: &str) -> Option<u64> {
        let (status, text) = self.request("GET", &format!("{url}/metrics"), None, &[]);
        (status == 200).then(|| metric_value(&text, name)).flatten()
    }
}

/// The value of the unlabelled metric `name` in an OpenMetrics text: a
/// gauge's sample, or a counter's `_total` one.
pub fn metric_value(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let rest = rest.strip_prefix("_total").unwrap_or(rest);
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_read_by_name_counters_by_their_total() {
        let text = "# HELP harpoon_registry_writes Registry writes.\n\
                    harpoon_registry_writes_total 12\n\
                    harpoon_tasks_running 7\n\
                    harpoon_tasks_running_extra 9\n";
        assert_eq!(metric_value(text, "harpoon_registry_writes"), Some(12));
        assert_eq!(metric_value(text, "harpoon_tasks_running"), Some(7));
        assert_eq!(metric_value(text, "harpoon_tasks_pending"), None);
    }
}
