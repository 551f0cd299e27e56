//! The messages the state task receives, and [`AgentHandle`], the typed
//! way for HTTP handlers to send them and await the answer.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use harpoon_core::wire::{ContainerConfig, ContainerInstance, HostResources};
use tokio::sync::{mpsc, oneshot};

use super::error::{CreateError, DeleteError, StartError, StopError, TooManyStreams, Unavailable};
use super::logs::ContainerLog;
use super::state::Lookup;
use super::watch::Exit;

/// A message to the state task: a request with a reply channel, or a
/// report from one of its workers.
#[derive(Debug)]
pub(crate) enum Message {
    Create {
        id: String,
        config: Box<ContainerConfig>,
        reply: oneshot::Sender<Result<(), CreateError>>,
    },
    Start {
        id: String,
        reply: oneshot::Sender<Result<(), StartError>>,
    },
    Stop {
        id: String,
        reply: oneshot::Sender<Result<(), StopError>>,
    },
    Delete {
        id: String,
        reply: oneshot::Sender<Result<(), DeleteError>>,
    },
    Get {
        id: String,
        reply: oneshot::Sender<Lookup>,
    },
    List {
        reply: oneshot::Sender<BTreeMap<String, ContainerInstance>>,
    },
    Resources {
        reply: oneshot::Sender<HostResources>,
    },
    Subscribe {
        reply: oneshot::Sender<Result<mpsc::Receiver<Bytes>, TooManyStreams>>,
    },
    Log {
        id: String,
        reply: oneshot::Sender<Option<Arc<ContainerLog>>>,
    },
    /// Preparation of the container in `dir` ended.
    Prepared {
        id: String,
        dir: PathBuf,
        result: Result<(), String>,
    },
    /// Run `run` of container `id` ended.
    Exited { id: String, run: u64, exit: Exit },
}

/// A cloneable handle to the state task.
#[derive(Clone, Debug)]
pub(crate) struct AgentHandle {
    inbox: mpsc::Sender<Message>,
}

impl AgentHandle {
    pub fn new(inbox: mpsc::Sender<Message>) -> AgentHandle {
        AgentHandle { inbox }
    }

    /// Sends the message `make` builds around a reply channel, and awaits
    /// the reply.
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Message,
    ) -> Result<T, Unavailable> {
        let (reply, answer) = oneshot::channel();
        self.inbox
            .send(make(reply))
            .await
            .map_err(|_| Unavailable)?;
        answer.await.map_err(|_| Unavailable)
    }

    pub async fn create(
        &self,
        id: String,
        config: ContainerConfig,
    ) -> Result<Result<(), CreateError>, Unavailable> {
        let config = Box::new(config);
        self.ask(|reply| Message::Create { id, config, reply })
            .await
    }

    pub async fn start(&self, id: String) -> Result<Result<(), StartError>, Unavailable> {
        self.ask(|reply| Message::Start { id, reply }).await
    }

    pub async fn stop(&self, id: String) -> Result<Result<(), StopError>, Unavailable> {
        self.ask(|reply| Message::Stop { id, reply }).await
    }

    pub async fn delete(&self, id: String) -> Result<Result<(), DeleteError>, Unavailable> {
        self.ask(|reply| Message::Delete { id, reply }).await
    }

    pub async fn get(&self, id: String) -> Result<Lookup, Unavailable> {
        self.ask(|reply| Message::Get { id, reply }).await
    }

    pub async fn list(&self) -> Result<BTreeMap<String, ContainerInstance>, Unavailable> {
        self.ask(|reply| Message::List { reply }).await
    }

    pub async fn resources(&self) -> Result<HostResources, Unavailable> {
        self.ask(|reply| Message::Resources { reply }).await
    }

    pub async fn subscribe(
        &self,
    ) -> Result<Result<mpsc::Receiver<Bytes>, TooManyStreams>, Unavailable> {
        self.ask(|reply| Message::Subscribe { reply }).await
    }

    pub async fn log(&self, id: String) -> Result<Option<Arc<ContainerLog>>, Unavailable> {
        self.ask(|reply| Message::Log { id, reply }).await
    }
}
