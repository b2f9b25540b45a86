//! A real, minimal HTTP/1.1 token endpoint on 127.0.0.1, for `RemoteIssuer` tests. It reads
//! one request per connection, records it, and answers as told.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use attest_core::Confirmation;
use attest_mcp_client::{Freshness, LocalSigner, TokenSource};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::common::{key, system_now, template};

/// How the endpoint answers.
#[derive(Debug, Clone)]
pub(crate) enum Behavior {
    /// Issues a token for the requested audience, binding the `cnf_jwk` it was sent into
    /// `cnf.jwk`; with a secret, only to a caller that presents it (else 401 with the
    /// documented error body).
    Issue { secret: Option<&'static str> },
    /// Issues a token with this `cnf` (or none), whatever `cnf_jwk` it was sent: an issuer
    /// that does not know key binding, or binds a key of its own choosing.
    IssueWithCnf(Option<Value>),
    /// 500 with a plain-text body.
    PlainServerError,
    /// 200 with a body of this many bytes, announced in Content-Length.
    Oversized(usize),
    /// 200 with a body of this many bytes, no Content-Length: the end is the closed socket.
    OversizedUnannounced(usize),
    /// Waits this long before answering.
    Slow(Duration),
    /// 200 with a body that is not a token response.
    Garbage,
}

/// One request as received.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    /// The request line and headers, as sent.
    pub(crate) head: String,
    /// The body, parsed as JSON (`null` if it was not JSON).
    pub(crate) body: Value,
}

impl Recorded {
    /// The value of header `name`, matched case-insensitively.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }

    pub(crate) fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }
}

pub(crate) struct TestIssuer {
    /// `http://127.0.0.1:<port>`.
    pub(crate) base: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: JoinHandle<()>,
}

impl TestIssuer {
    pub(crate) async fn start(behavior: Behavior) -> TestIssuer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            // Bounded: a test makes a handful of requests.
            for _ in 0..64 {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let behavior = behavior.clone();
                let recorded = Arc::clone(&recorded);
                tokio::spawn(async move {
                    let _ = serve(stream, behavior, recorded).await;
                });
            }
        });
        TestIssuer {
            base,
            requests,
            task,
        }
    }

    /// The token endpoint, `{base}/token`.
    pub(crate) fn endpoint(&self) -> String {
        format!("{}/token", self.base)
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut stream: TcpStream,
    behavior: Behavior,
    recorded: Arc<Mutex<Vec<Recorded>>>,
) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        assert!(buffer.len() < 64 * 1024, "request head too large");
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body: Value = serde_json::from_slice(&buffer[head_end..]).unwrap_or(Value::Null);
    let request = Recorded { head, body };
    recorded.lock().unwrap().push(request.clone());

    match behavior {
        Behavior::Issue { secret } => {
            let presented = request.header("authorization");
            if let Some(secret) = secret
                && presented.as_deref() != Some(&format!("Bearer {secret}"))
            {
                let body = json!({"error": "invalid_client", "error_description": "unknown client or bad secret"});
                return respond(&mut stream, "401 Unauthorized", &body.to_string(), true).await;
            }
            let cnf = request.body.get("cnf_jwk").map(|jwk| json!({ "jwk": jwk }));
            issue(&mut stream, &request, cnf).await
        }
        Behavior::IssueWithCnf(cnf) => issue(&mut stream, &request, cnf).await,
        Behavior::PlainServerError => {
            respond(
                &mut stream,
                "500 Internal Server Error",
                "upstream exploded",
                true,
            )
            .await
        }
        Behavior::Oversized(n) => respond(&mut stream, "200 OK", &"x".repeat(n), true).await,
        Behavior::OversizedUnannounced(n) => {
            respond(&mut stream, "200 OK", &"x".repeat(n), false).await
        }
        Behavior::Slow(delay) => {
            tokio::time::sleep(delay).await;
            respond(&mut stream, "500 Internal Server Error", "late", true).await
        }
        Behavior::Garbage => respond(&mut stream, "200 OK", "{\"hello\": \"world\"}", true).await,
    }
}

/// Answers 200 with a token for the requested audience and lifetime, with `cnf` if given.
async fn issue(
    stream: &mut TcpStream,
    request: &Recorded,
    cnf: Option<Value>,
) -> std::io::Result<()> {
    let audience = request.body["audience"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let lifetime = request.body["lifetime_secs"].as_u64().unwrap_or(300);
    let mut template = template().lifetime_secs(lifetime);
    if let Some(cnf) = cnf {
        let cnf: Confirmation = serde_json::from_value(cnf).unwrap();
        template = template.confirmation(cnf);
    }
    let signer = LocalSigner::new(key(), template)
        .unwrap()
        .with_freshness(Freshness::PerRequest);
    let token = signer.token(&audience).await.unwrap();
    let body = json!({
        "token": token.as_str(),
        "token_type": "agent-attestation+jwt",
        "expires_at": system_now().as_secs() + lifetime,
    });
    respond(stream, "200 OK", &body.to_string(), true).await
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    body: &str,
    announce_length: bool,
) -> std::io::Result<()> {
    let mut head =
        format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nConnection: close\r\n");
    if announce_length {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}
