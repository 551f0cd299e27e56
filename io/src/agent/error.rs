//! Errors, typed per operation. Each operation's error knows its HTTP
//! status; its message is what the client reads, so it says what was wrong.

use std::path::PathBuf;

use hyper::StatusCode;

/// Why an agent could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The data directory could not be prepared.
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The state task stopped unexpectedly.
    #[error("the agent's state task failed: {0}")]
    StateTask(String),
}

/// Why a PUT of a container was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CreateError {
    #[error("invalid container ID {id:?}: {reason}")]
    InvalidId { id: String, reason: String },
    #[error("container {0} already exists")]
    Exists(String),
    /// Resources (CPU, memory, volumes, ports) do not fit on this agent.
    #[error("container {id} does not fit on this agent: {reason}")]
    DoesNotFit { id: String, reason: String },
    #[error("cannot record container {id}: {reason}")]
    Storage { id: String, reason: String },
}

/// Why a start was refused or failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error("container {0} not found")]
    NotFound(String),
    #[error("container {0} is already running")]
    AlreadyRunning(String),
    #[error("cannot start container {id}: {reason}")]
    Failed { id: String, reason: String },
}

/// Why a stop was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StopError {
    #[error("container {0} not found")]
    NotFound(String),
    #[error("container {id} is not running (status {status}); nothing to stop")]
    NotRunning { id: String, status: String },
}

/// Why a delete was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DeleteError {
    #[error("container {0} not found")]
    NotFound(String),
    #[error("container {0} is running; stop it first")]
    Running(String),
}

/// The state task is gone: the agent is shutting down.
#[derive(Debug, thiserror::Error)]
#[error("the agent is shutting down; try again later")]
pub(crate) struct Unavailable;

/// Too many event or log streams are open.
#[derive(Debug, thiserror::Error)]
#[error("too many streams are open ({0}); try again later")]
pub(crate) struct TooManyStreams(pub usize);

/// The HTTP status an error is answered with.
pub(crate) trait HttpStatus {
    fn status(&self) -> StatusCode;
}

impl HttpStatus for CreateError {
    fn status(&self) -> StatusCode {
        match self {
            CreateError::InvalidId { .. } => StatusCode::BAD_REQUEST,
            CreateError::Exists(_) => StatusCode::CONFLICT,
            // Not 409: clients retrying a PUT may read 409 as "it is already
            // there", which would hide a refusal. 422 says the request was
            // understood and cannot be carried out as it is.
            CreateError::DoesNotFit { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            CreateError::Storage { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl HttpStatus for StartError {
    fn status(&self) -> StatusCode {
        match self {
            StartError::NotFound(_) => StatusCode::NOT_FOUND,
            StartError::AlreadyRunning(_) => StatusCode::CONFLICT,
            StartError::Failed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl HttpStatus for StopError {
    fn status(&self) -> StatusCode {
        match self {
            StopError::NotFound(_) => StatusCode::NOT_FOUND,
            StopError::NotRunning { .. } => StatusCode::CONFLICT,
        }
    }
}

impl HttpStatus for DeleteError {
    fn status(&self) -> StatusCode {
        match self {
            DeleteError::NotFound(_) => StatusCode::NOT_FOUND,
            DeleteError::Running(_) => StatusCode::CONFLICT,
        }
    }
}

impl HttpStatus for Unavailable {
    fn status(&self) -> StatusCode {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

impl HttpStatus for TooManyStreams {
    fn status(&self) -> StatusCode {
        StatusCode::SERVICE_UNAVAILABLE
    }
}
