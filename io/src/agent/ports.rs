//! Ports handed to containers that ask for port 0, from a configured range.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpListener};

use harpoon_core::wire::{ContainerConfig, Field};

use super::options::PortRange;

/// The ports of the range and which container holds each.
#[derive(Debug)]
pub(crate) struct PortPool {
    range: PortRange,
    /// Where the next search starts: ports are handed out round-robin so
    /// that a port freed by a deleted container is not reused at once, while
    /// clients may still be connecting to the old holder.
    next: u16,
    holders: BTreeMap<u16, String>,
}

impl PortPool {
    pub fn new(range: PortRange) -> PortPool {
        PortPool {
            range,
            next: range.first,
            holders: BTreeMap::new(),
        }
    }

    /// Fills in every port 0 of `config` with a free port of the range,
    /// records the ports of the range that `config` names, and adds
    /// `PORT_<NAME>` to its env for every port (as the original agent does).
    /// On failure nothing is held for `owner`.
    pub fn assign(&mut self, owner: &str, config: &mut ContainerConfig) -> Result<(), String> {
        let Field::Present(ports) = &mut config.ports else {
            return Ok(());
        };
        let result = ports.iter_mut().try_for_each(|(name, port)| {
            if *port == 0 {
                *port = self
                    .allocate(owner)
                    .ok_or_else(|| format!("no free port left in {} for {name:?}", self.range))?;
                Ok(())
            } else {
                self.claim(*port, owner)
            }
        });
        if let Err(reason) = result {
            self.release(owner);
            return Err(reason);
        }
        if !ports.is_empty() {
            let mut env = config.env.get().into_owned();
            for (name, port) in ports.iter() {
                env.insert(format!("PORT_{}", name.to_uppercase()), port.to_string());
            }
            config.env = Field::Present(env);
        }
        Ok(())
    }

    /// Records that `owner` holds `port`, if the port is in the range (ports
    /// outside it are the operator's business). Fails if another container
    /// holds it.
    pub fn claim(&mut self, port: u16, owner: &str) -> Result<(), String> {
        if !(self.range.first..=self.range.last).contains(&port) {
            return Ok(());
        }
        match self.holders.get(&port) {
            Some(holder) if holder != owner => Err(format!(
                "port {port} is already assigned to container {holder}"
            )),
            _ => {
                self.holders.insert(port, owner.to_owned());
                Ok(())
            }
        }
    }

    /// Frees every port `owner` holds.
    pub fn release(&mut self, owner: &str) {
        self.holders.retain(|_, holder| holder != owner);
    }

    /// A port of the range that no container holds and nothing on this host
    /// listens on, searching round-robin from where the last search ended.
    fn allocate(&mut self, owner: &str) -> Option<u16> {
        let size = u32::from(self.range.last - self.range.first) + 1;
        for _ in 0..size {
            let port = self.next;
            self.next = if port >= self.range.last {
                self.range.first
            } else {
                port + 1
            };
            if !self.holders.contains_key(&port) && is_free_on_host(port) {
                self.holders.insert(port, owner.to_owned());
                return Some(port);
            }
        }
        None
    }
}

/// Whether nothing on this host is bound to `port`: processes outside the
/// agent's control may use ports of the range too.
fn is_free_on_host(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn config_with_ports(ports: &[(&str, u16)]) -> ContainerConfig {
        ContainerConfig {
            ports: Field::Present(ports.iter().map(|(n, p)| (n.to_string(), *p)).collect()),
            ..ContainerConfig::default()
        }
    }

    /// A range of ports that are free right now, so that the host check
    /// passes; found by asking the OS for an ephemeral port.
    fn free_range(len: u16) -> PortRange {
        loop {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            let first = listener.local_addr().unwrap().port();
            drop(listener);
            if first < u16::MAX - len && (first..first + len).all(is_free_on_host) {
                return PortRange::new(first, first + len - 1).unwrap();
            }
        }
    }

    #[test]
    fn fills_in_zero_ports_and_exports_them() {
        let range = free_range(2);
        let mut pool = PortPool::new(range);
        let mut config = config_with_ports(&[("http", 0), ("admin", 8080)]);
        pool.assign("c1", &mut config).unwrap();
        let ports = config.ports.get().into_owned();
        assert_eq!(ports["http"], range.first);
        assert_eq!(ports["admin"], 8080);
        let env: BTreeMap<String, String> = config.env.get().into_owned();
        assert_eq!(env["PORT_HTTP"], range.first.to_string());
        assert_eq!(env["PORT_ADMIN"], "8080");
    }

    #[test]
    fn runs_out_cleanly_and_frees_on_release() {
        let range = free_range(2);
        let mut pool = PortPool::new(range);
        pool.assign("c1", &mut config_with_ports(&[("a", 0)]))
            .unwrap();
        let error = pool
            .assign("c2", &mut config_with_ports(&[("a", 0), ("b", 0)]))
            .unwrap_err();
        assert!(error.contains("no free port left"), "{error}");
        // The failed assignment held nothing: one port is still free.
        pool.assign("c3", &mut config_with_ports(&[("a", 0)]))
            .unwrap();
        pool.release("c1");
        pool.assign("c4", &mut config_with_ports(&[("a", 0)]))
            .unwrap();
    }

    #[test]
    fn a_fixed_port_of_the_range_is_held_once() {
        let range = free_range(1);
        let mut pool = PortPool::new(range);
        pool.claim(range.first, "c1").unwrap();
        let error = pool.claim(range.first, "c2").unwrap_err();
        assert!(
            error.contains("already assigned to container c1"),
            "{error}"
        );
        assert_eq!(
            pool.claim(1, "c2"),
            Ok(()),
            "ports outside the range are not tracked"
        );
    }
}
