use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("harpoon-artifact-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A gzipped tar holding `entries` (path, mode, content); paths are written
/// into the header as they are, so that malicious ones can be built.
fn archive(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, mode, content) in entries {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_mode(*mode);
        header.set_size(content.len() as u64);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder.append(&header, *content).unwrap();
    }
    let tar = builder.into_inner().unwrap();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gzip, &tar).unwrap();
    gzip.finish().unwrap()
}

const LIMITS: ArtifactLimits = ArtifactLimits {
    max_bytes: 1 << 20,
    unpacked_max_bytes: 1 << 20,
    fetch_timeout: Duration::from_secs(5),
};

async fn install_bytes(
    name: &str,
    bytes: &[u8],
    limits: ArtifactLimits,
) -> (PathBuf, Result<(), ArtifactError>) {
    let dir = temp_dir(name);
    let file = dir.join("artifact.tgz");
    std::fs::write(&file, bytes).unwrap();
    let root = dir.join("root");
    std::fs::create_dir(&root).unwrap();
    let url = format!("file://{}", file.display());
    let result = install(
        &url,
        &root,
        &dir.join("scratch"),
        limits,
        &CancellationToken::new(),
    )
    .await;
    (dir, result)
}

#[tokio::test]
async fn unpacks_files_with_their_modes() {
    let bytes = archive(&[
        ("bin/run.sh", 0o755, b"#!/bin/sh\n"),
        ("/etc/conf", 0o644, b"x"),
    ]);
    let (dir, result) = install_bytes("modes", &bytes, LIMITS).await;
    result.unwrap();
    let script = std::fs::metadata(dir.join("root/bin/run.sh")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&script.permissions()) & 0o777,
        0o755
    );
    assert_eq!(
        std::fs::read(dir.join("root/etc/conf")).unwrap(),
        b"x",
        "absolute paths land inside"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn refuses_entries_that_climb_out() {
    let bytes = archive(&[("ok", 0o644, b""), ("../escaped", 0o644, b"evil")]);
    let (dir, result) = install_bytes("escape", &bytes, LIMITS).await;
    assert!(
        matches!(result, Err(ArtifactError::Escapes(ref path)) if path == "../escaped"),
        "{result:?}"
    );
    assert!(!dir.join("escaped").exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn enforces_both_size_limits() {
    let big = vec![0u8; 64 * 1024];
    let bytes = archive(&[("big", 0o644, &big)]);
    let small_archive = ArtifactLimits {
        max_bytes: 100,
        ..LIMITS
    };
    let (dir, result) = install_bytes("archive-limit", &bytes, small_archive).await;
    assert!(
        matches!(result, Err(ArtifactError::TooLarge(100))),
        "{result:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
    let small_tree = ArtifactLimits {
        unpacked_max_bytes: 1000,
        ..LIMITS
    };
    let (dir, result) = install_bytes("unpacked-limit", &bytes, small_tree).await;
    assert!(
        matches!(result, Err(ArtifactError::UnpackedTooLarge(1000))),
        "{result:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn says_what_is_unsupported_or_broken() {
    let (dir, result) = install_bytes("not-gzip", b"plain text", LIMITS).await;
    let error = result.unwrap_err().to_string();
    assert!(error.starts_with("cannot unpack the artifact"), "{error}");
    for url in [
        "https://example.com/a.tgz",
        "ftp://x/a.tgz",
        "file:///a.zip",
        "file:///a%zz.tgz",
    ] {
        let result = install(url, &dir, &dir.join("s"), LIMITS, &CancellationToken::new()).await;
        assert!(
            matches!(result, Err(ArtifactError::Unsupported(_))),
            "{url}: {result:?}"
        );
    }
    let missing = install(
        "file:///nonexistent/a.tgz",
        &dir,
        &dir.join("s"),
        LIMITS,
        &CancellationToken::new(),
    )
    .await;
    assert!(
        missing
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/a.tgz")
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn decodes_percent_escapes() {
    assert_eq!(
        percent_decode("/a%20b/c.tgz").as_deref(),
        Some("/a b/c.tgz")
    );
    assert_eq!(percent_decode("/bad%2"), None);
}

/// Serves one HTTP request on loopback with `status` and `body`, and
/// returns the URL of `path` on it.
async fn serve_once(status: &'static str, body: Vec<u8>, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        while !request.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            if stream.read(&mut byte).await.unwrap() == 0 {
                return;
            }
            request.push(byte[0]);
        }
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body).await.unwrap();
    });
    format!("http://{address}{path}")
}

#[tokio::test]
async fn fetches_over_http_and_reports_bad_answers() {
    let dir = temp_dir("http");
    let root = dir.join("root");
    std::fs::create_dir(&root).unwrap();
    let bytes = archive(&[("bin/run.sh", 0o755, b"#!/bin/sh\n")]);
    let url = serve_once("200 OK", bytes.clone(), "/warhead.tgz").await;
    let cancel = CancellationToken::new();
    install(&url, &root, &dir.join("download"), LIMITS, &cancel)
        .await
        .unwrap();
    assert!(root.join("bin/run.sh").is_file());
    assert!(
        !dir.join("download").exists(),
        "the download is removed once unpacked"
    );

    let url = serve_once("404 Not Found", Vec::new(), "/gone.tgz").await;
    let error = install(&url, &root, &dir.join("download"), LIMITS, &cancel)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("the server answered 404 Not Found"),
        "{error}"
    );

    let url = serve_once("200 OK", bytes, "/big.tgz").await;
    let small = ArtifactLimits {
        max_bytes: 10,
        ..LIMITS
    };
    let error = install(&url, &root, &dir.join("download"), small, &cancel).await;
    assert!(
        matches!(error, Err(ArtifactError::TooLarge(10))),
        "{error:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A loopback HTTP server answering every request with a small gzipped
/// archive; returns its address and the number of requests it received.
async fn counting_server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    let body = archive(&[("ok.txt", 0o644, b"ok")]);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            while !request.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                    break;
                }
                request.push(byte[0]);
            }
            counted.fetch_add(1, Ordering::SeqCst);
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
        }
    });
    (address, requests)
}

#[tokio::test]
async fn unsupported_formats_are_refused_before_anything_is_fetched() {
    let dir = temp_dir("format-first");
    let root = dir.join("root");
    std::fs::create_dir(&root).unwrap();
    let (address, requests) = counting_server().await;
    let cancel = CancellationToken::new();
    for path in [
        "/a.tar.bz2",
        "/ok.txt?x=.tar.gz",
        "/ok.txt#.tgz",
        "/archive",
    ] {
        let url = format!("http://{address}{path}");
        let result = install(&url, &root, &dir.join("download"), LIMITS, &cancel).await;
        assert!(
            matches!(result, Err(ArtifactError::Unsupported(ref refused)) if *refused == url),
            "{url}: {result:?}"
        );
    }
    assert_eq!(requests.load(Ordering::SeqCst), 0, "nothing was fetched");
    // A query after a supported path is no obstacle.
    let url = format!("http://{address}/a.tgz?version=2");
    install(&url, &root, &dir.join("download"), LIMITS, &cancel)
        .await
        .unwrap();
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    assert!(root.join("ok.txt").is_file());
    std::fs::remove_dir_all(dir).unwrap();
}
