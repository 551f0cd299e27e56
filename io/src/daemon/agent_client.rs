//! The daemon as a client of the agent API: commands and event streams.

use std::time::Duration;

use bytes::Bytes;
use harpoon_core::wire::{ContainerId, StateEvent};
use harpoon_core::{AgentId, CommandAction, CommandError, Input};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;

use super::messages::CoreMessage;
use super::sse::{SseItem, SseParser};

/// Limits of the agent client.
#[derive(Clone, Debug)]
pub struct ClientLimits {
    /// How long one command may take before it counts as timed out.
    pub command_timeout: Duration,
    /// How long opening a stream may take.
    pub connect_timeout: Duration,
    /// Largest event accepted on a stream.
    pub max_event_bytes: usize,
    /// Largest command answer read.
    pub max_answer_bytes: usize,
}

impl Default for ClientLimits {
    fn default() -> ClientLimits {
        ClientLimits {
            command_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            max_event_bytes: 64 << 20,
            max_answer_bytes: 64 << 10,
        }
    }
}

/// An HTTP client for agents, shared by every command and stream task.
#[derive(Clone, Debug)]
pub struct AgentClient {
    http: Client<HttpConnector, Full<Bytes>>,
    limits: ClientLimits,
}

impl AgentClient {
    /// A client with these limits.
    pub fn new(limits: ClientLimits) -> AgentClient {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(limits.connect_timeout));
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        AgentClient { http, limits }
    }

    /// Sends one command and maps the answer to the core's result.
    pub async fn command(
        &self,
        agent: &AgentId,
        container: &ContainerId,
        action: &CommandAction,
    ) -> Result<(), CommandError> {
        let base = agent.as_str().trim_end_matches('/');
        let path = format!("{base}/api/v0/containers/{container}");
        let (method, uri, body) = match action {
            CommandAction::Create(config) => (
                Method::PUT,
                path,
                Bytes::from(serde_json::to_vec(&**config).expect("configs encode")),
            ),
            CommandAction::Start => (Method::POST, format!("{path}/start"), Bytes::new()),
            CommandAction::Stop => (Method::POST, format!("{path}/stop"), Bytes::new()),
            CommandAction::Destroy => (Method::DELETE, path, Bytes::new()),
        };
        let request = Request::builder()
            .method(method)
            .uri(&uri)
            .header("content-type", "application/json")
            .body(Full::new(body))
            .map_err(|error| CommandError::Unreachable(format!("bad agent URL {uri}: {error}")))?;
        let exchange = async {
            let response = self.http.request(request).await.map_err(|error| {
                if error.is_connect() {
                    CommandError::Unreachable(error.to_string())
                } else {
                    // The request may have reached the agent.
                    CommandError::TimedOut
                }
            })?;
            let status = response.status();
            let body =
                http_body_util::Limited::new(response.into_body(), self.limits.max_answer_bytes)
                    .collect()
                    .await
                    .map(|collected| {
                        String::from_utf8_lossy(&collected.to_bytes())
                            .trim()
                            .to_owned()
                    })
                    .unwrap_or_default();
            Ok((status, body))
        };
        let (status, body) = tokio::time::timeout(self.limits.command_timeout, exchange)
            .await
            .map_err(|_| CommandError::TimedOut)??;
        classify(action, status, body)
    }

    /// Runs one event stream until it ends, sending its inputs to the core
    /// with the core's `session` number (the core ignores stale sessions).
    pub async fn stream(&self, agent: AgentId, session: u64, core: mpsc::Sender<CoreMessage>) {
        let reason = self.stream_until_error(&agent, session, &core).await;
        let input = Input::StreamClosed {
            agent,
            session,
            reason,
        };
        let _ = core.send(CoreMessage::Input(input)).await;
    }

    async fn stream_until_error(
        &self,
        agent: &AgentId,
        session: u64,
        core: &mpsc::Sender<CoreMessage>,
    ) -> String {
        let uri = format!("{}/api/v0/containers", agent.as_str().trim_end_matches('/'));
        let request = match Request::get(&uri)
            .header("accept", "text/event-stream")
            .body(Full::new(Bytes::new()))
        {
            Ok(request) => request,
            Err(error) => return format!("bad agent URL {uri}: {error}"),
        };
        let response =
            match tokio::time::timeout(self.limits.connect_timeout, self.http.request(request))
                .await
            {
                Err(_) => return format!("no answer within {:?}", self.limits.connect_timeout),
                Ok(Err(error)) => return format!("cannot connect: {error}"),
                Ok(Ok(response)) => response,
            };
        if response.status() != StatusCode::OK {
            return format!("stream refused with {}", response.status());
        }
        let send = |input| core.send(CoreMessage::Input(input));
        if send(Input::StreamOpened {
            agent: agent.clone(),
            session,
        })
        .await
        .is_err()
        {
            return "shutting down".into();
        }
        let mut body = response.into_body();
        let mut parser = SseParser::new(self.limits.max_event_bytes);
        let mut items = Vec::new();
        loop {
            let frame = match body.frame().await {
                None => return "the agent ended the stream".into(),
                Some(Err(error)) => return format!("stream broke: {error}"),
                Some(Ok(frame)) => frame,
            };
            let Ok(chunk) = frame.into_data() else {
                continue;
            };
            if let Err(error) = parser.feed(&chunk, &mut items) {
                return format!("bad stream: {error}");
            }
            for item in items.drain(..) {
                let input = match item {
                    SseItem::Comment => Input::StreamKeepAlive {
                        agent: agent.clone(),
                        session,
                    },
                    SseItem::Data(data) => match serde_json::from_str::<StateEvent>(&data) {
                        Ok(event) => Input::StreamEvent {
                            agent: agent.clone(),
                            session,
                            event,
                        },
                        Err(error) => return format!("bad event: {error}"),
                    },
                };
                if send(input).await.is_err() {
                    return "shutting down".into();
                }
            }
        }
    }
}

/// Maps an agent's answer to a command to the core's result, per the agent
/// API table of the wire doc.
fn classify(action: &CommandAction, status: StatusCode, body: String) -> Result<(), CommandError> {
    let expected = match action {
        CommandAction::Create(_) => StatusCode::CREATED,
        CommandAction::Start | CommandAction::Stop => StatusCode::ACCEPTED,
        CommandAction::Destroy => StatusCode::OK,
    };
    let detail = || {
        if body.is_empty() {
            status.to_string()
        } else {
            format!("{status}: {body}")
        }
    };
    match status {
        s if s == expected || s.is_success() => Ok(()),
        StatusCode::NOT_FOUND => Err(CommandError::NotFound),
        StatusCode::CONFLICT => match action {
            CommandAction::Stop => Err(CommandError::AlreadyStopped),
            _ => Err(CommandError::Conflict(detail())),
        },
        _ => Err(CommandError::ServerError(detail())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_the_wire_doc_meanings() {
        let create = CommandAction::Create(Default::default());
        assert_eq!(
            classify(&create, StatusCode::CREATED, String::new()),
            Ok(())
        );
        assert!(
            matches!(classify(&create, StatusCode::CONFLICT, "exists".into()), Err(CommandError::Conflict(m)) if m.contains("exists"))
        );
        assert_eq!(
            classify(&CommandAction::Start, StatusCode::NOT_FOUND, String::new()),
            Err(CommandError::NotFound)
        );
        assert!(matches!(
            classify(&CommandAction::Start, StatusCode::INTERNAL_SERVER_ERROR, "exec failed".into()),
            Err(CommandError::ServerError(m)) if m.contains("exec failed")
        ));
        assert_eq!(
            classify(&CommandAction::Stop, StatusCode::CONFLICT, String::new()),
            Err(CommandError::AlreadyStopped)
        );
        assert_eq!(
            classify(&CommandAction::Destroy, StatusCode::OK, String::new()),
            Ok(())
        );
        assert!(matches!(
            classify(&CommandAction::Destroy, StatusCode::CONFLICT, String::new()),
            Err(CommandError::Conflict(_))
        ));
    }
}
