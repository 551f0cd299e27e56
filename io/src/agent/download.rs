//! Fetching an `http://` artifact into a file, with hyper's HTTP/1 client.
//!
//! Deliberately small: one GET on one connection, no TLS, no redirects, no
//! proxies. Artifact servers in a cluster are plain HTTP; anything else is
//! refused with a clear error rather than half supported.

use std::path::Path;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, StatusCode, Uri, header};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::artifact::{ArtifactError, ArtifactLimits};

/// Fetches `url` into the file `dest`, within the size and time limits.
pub(crate) async fn fetch(
    url: &str,
    dest: &Path,
    limits: ArtifactLimits,
    cancel: &CancellationToken,
) -> Result<(), ArtifactError> {
    let failed = |reason: String| ArtifactError::Fetch {
        url: url.to_owned(),
        reason,
    };
    let fetching = get_into_file(url, dest, limits.max_bytes);
    tokio::select! {
        () = cancel.cancelled() => Err(ArtifactError::Cancelled),
        result = tokio::time::timeout(limits.fetch_timeout, fetching) => match result {
            Ok(result) => result.map_err(|error| match error {
                FetchError::TooLarge => ArtifactError::TooLarge(limits.max_bytes),
                FetchError::Other(reason) => failed(reason),
            }),
            Err(_) => Err(failed(format!("no complete answer within {:?}", limits.fetch_timeout))),
        },
    }
}

enum FetchError {
    TooLarge,
    Other(String),
}

fn other(error: impl std::fmt::Display) -> FetchError {
    FetchError::Other(error.to_string())
}

async fn get_into_file(url: &str, dest: &Path, max_bytes: u64) -> Result<(), FetchError> {
    let uri: Uri = url.parse().map_err(other)?;
    let authority = uri
        .authority()
        .ok_or_else(|| FetchError::Other("the URL has no host".to_owned()))?
        .clone();
    let address = format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(80)
    );
    let stream = TcpStream::connect(&address).await.map_err(other)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(other)?;
    // The connection task ends by itself once `sender` is dropped.
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "artifact connection ended with an error");
        }
    });
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = Request::get(path)
        .header(header::HOST, authority.as_str())
        .header(header::USER_AGENT, "harpoon-agent")
        .body(Empty::<Bytes>::new())
        .map_err(other)?;
    let response = sender.send_request(request).await.map_err(other)?;
    if response.status() != StatusCode::OK {
        return Err(FetchError::Other(format!(
            "the server answered {}",
            response.status()
        )));
    }
    let declared = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_bytes) {
        return Err(FetchError::TooLarge);
    }
    let mut file = tokio::fs::File::create(dest).await.map_err(other)?;
    let mut body = response.into_body();
    let mut written: u64 = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(other)?.into_data() {
            written += data.len() as u64;
            if written > max_bytes {
                return Err(FetchError::TooLarge);
            }
            file.write_all(&data).await.map_err(other)?;
        }
    }
    file.flush().await.map_err(other)?;
    Ok(())
}
