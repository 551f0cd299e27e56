//! Whether a PUT of a container is accepted, and what follows: ports,
//! reservation, record, and the preparation in the background.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use harpoon_core::wire::{ContainerConfig, ContainerInstance, ContainerStatus, ProcessState};
use tokio_util::sync::CancellationToken;

use super::container::{Container, Phase};
use super::error::CreateError;
use super::handle::Message;
use super::id;
use super::log_tail::StartAt;
use super::prepare::{self, Preparation};
use super::state::AgentState;

impl AgentState {
    /// Accepts container `id` with `config`, or says why not. Acceptance
    /// means the preparation has begun; its outcome arrives as an event.
    pub fn create(&mut self, id: &str, mut config: ContainerConfig) -> Result<(), CreateError> {
        id::check(id).map_err(|reason| CreateError::InvalidId {
            id: id.to_owned(),
            reason,
        })?;
        if self.containers.contains_key(id) {
            return Err(CreateError::Exists(id.to_owned()));
        }
        // An invalid config is accepted (201) and then reported `deleted`,
        // with every problem in `process_state.err`, rather than refused
        // with 400: that is what real agents do (a PUT of `{}` answers 201
        // and is followed by a `deleted` event, see the wire doc), and
        // clients written against them expect an event, not an error. A body
        // that is not JSON at all is still answered 400.
        if let Err(problems) = config.validate() {
            tracing::warn!(container = id, %problems, "invalid config; reporting it deleted");
            self.announce(rejected(id, config, format!("invalid config: {problems}")));
            return Ok(());
        }
        let does_not_fit = |reason| CreateError::DoesNotFit {
            id: id.to_owned(),
            reason,
        };
        self.ledger
            .check_fit(self.reserved(), &config)
            .map_err(does_not_fit)?;
        self.ports.assign(id, &mut config).map_err(does_not_fit)?;
        let cancel = CancellationToken::new();
        let container = Container {
            instance: ContainerInstance {
                container_id: id.to_owned(),
                status: ContainerStatus::Created,
                config: Arc::new(config),
                process_state: ProcessState::default(),
            },
            dir: self.unique_dir(id),
            phase: Phase::Preparing {
                cancel: cancel.clone(),
                start_requested: false,
            },
            log: self.new_log(),
            tailer: None,
            short_runs: 0,
            run: 0,
        };
        self.spawn_preparation(&container, cancel);
        tracing::info!(container = id, artifact = %container.instance.config.artifact_url, "accepted; preparing");
        // Like the original agent, no event yet: the container is announced
        // `created` once prepared, or `deleted` if preparation fails.
        self.containers.insert(id.to_owned(), container);
        // Answered once this record is on disk (see `actor`): without it a
        // restart of the agent would forget the container.
        self.persist(id);
        Ok(())
    }

    /// The record of a container just accepted could not be written: it is
    /// removed again (unless a client already started its process) and the
    /// PUT is answered with the reason.
    pub fn on_create_not_recorded(&mut self, id: &str, reason: &str) -> CreateError {
        match self.containers.get(id).map(|container| &container.phase) {
            Some(Phase::Running(_)) => {
                tracing::error!(container = id, %reason, "cannot record a running container");
            }
            Some(Phase::Preparing { .. }) => self.forget(id, Some(reason.to_owned()), false),
            Some(_) => self.forget(id, Some(reason.to_owned()), true),
            None => {}
        }
        CreateError::Storage {
            id: id.to_owned(),
            reason: reason.to_owned(),
        }
    }

    /// Starts preparing `container` in the background.
    pub fn spawn_preparation(&self, container: &Container, cancel: CancellationToken) {
        let preparation = Preparation {
            dir: container.dir.clone(),
            config: container.instance.config.clone(),
            limits: self.artifact_limits(),
            cancel,
        };
        let id = container.id().to_owned();
        let inbox = self.inbox.clone();
        tokio::spawn(async move {
            let result = preparation.run().await;
            let dir = preparation.dir;
            // No receiver means the agent is shutting down; the next one
            // prepares the container again.
            let _ = inbox.send(Message::Prepared { id, dir, result }).await;
        });
    }

    /// Preparation of the container in `dir` ended with `result`.
    pub fn on_prepared(&mut self, id: &str, dir: PathBuf, result: Result<(), String>) {
        let current = self
            .containers
            .get_mut(id)
            .filter(|container| container.dir == dir);
        let Some(container) = current else {
            // Deleted while preparing: its directory is ours to remove.
            tokio::spawn(async move { prepare::remove_dir(&dir).await });
            return;
        };
        let Phase::Preparing {
            start_requested, ..
        } = container.phase
        else {
            return;
        };
        match result {
            Ok(()) => {
                container.phase = Phase::Idle;
                tracing::info!(container = id, "prepared");
                self.start_tailer(id, StartAt::Beginning);
                self.commit(id);
                if start_requested {
                    // The client was answered 202 long ago; a failure shows
                    // as `failed` with the reason in `process_state.err`.
                    let _ = self.start(id);
                }
            }
            Err(reason) => {
                tracing::warn!(container = id, %reason, "preparation failed; deleting");
                self.forget(id, Some(reason), true);
            }
        }
    }

    /// A directory for a new container: `<containers>/<id>.<serial>`, unique
    /// even across restarts of the agent.
    fn unique_dir(&self, id: &str) -> PathBuf {
        let containers = self.options.data_dir.join("containers");
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut serial = since_epoch.as_micros();
        loop {
            let dir = containers.join(format!("{id}.{serial:x}"));
            if !dir.exists() {
                return dir;
            }
            serial += 1;
        }
    }
}

/// The `deleted` instance announced for a config that was not accepted.
fn rejected(id: &str, config: ContainerConfig, reason: String) -> ContainerInstance {
    ContainerInstance {
        container_id: id.to_owned(),
        status: ContainerStatus::Deleted,
        config: Arc::new(config),
        process_state: ProcessState {
            err: Some(reason),
            ..ProcessState::default()
        },
    }
}
