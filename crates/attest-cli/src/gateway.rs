//! `attest gateway`: attestation in front of any existing MCP server (attest-gateway), served
//! over streamable HTTP or, for desktop clients that launch servers as child processes, over
//! this process's stdin and stdout.

use std::path::PathBuf;

use attest_gateway::{AuditLog, Gateway, GatewayOptions, GatewayPolicy, PolicyHandle, Upstream};

use crate::gate::GateArgs;
use crate::output::{self, CliError};
use crate::serve::{runtime, serve_mcp, verifier};
use crate::trust::PolicyArgs;

/// Arguments of `attest gateway`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  # The official reference server, behind attestation, over HTTP:
  attest gateway --listen 127.0.0.1:8080 \\
      --upstream-cmd \"npx -y @modelcontextprotocol/server-everything\" \\
      --issuer https://issuer.example --audience http://127.0.0.1:8080/mcp --jwks jwks.json \\
      --policy-file policy.toml --audit-log audit.jsonl

  # An HTTP upstream, keys fetched from the issuer, replays refused across replicas:
  attest gateway --listen 0.0.0.0:8080 --allowed-host tools.example \\
      --upstream-url http://127.0.0.1:9000/mcp --issuer https://issuer.example \\
      --audience https://tools.example/mcp --jwks-url https://issuer.example/jwks.json \\
      --redis redis://redis:6379

  # For a desktop client that launches servers: it launches the gateway instead.
  attest gateway --stdio --issuer https://issuer.example --audience urn:my-desktop \\
      --jwks jwks.json -- npx -y @modelcontextprotocol/server-filesystem /tmp/work

Every request passes the attestation gate first (both protocol generations), then the policy
file's rules; only then is it relayed upstream, without the token or proofs. Each downstream
session gets its own upstream session (its own child process for a command upstream);
sessionless 2026-07-28 requests share one. SIGHUP reloads the policy file; a file that does not
parse keeps the old policy. Endpoints (HTTP): /mcp, /health, /metrics.")]
pub(crate) struct GatewayArgs {
    /// The address to listen on (HTTP), e.g. 127.0.0.1:8080.
    #[arg(
        long,
        value_name = "ADDR",
        required_unless_present = "stdio",
        conflicts_with = "stdio"
    )]
    listen: Option<String>,
    /// Serve one session over stdin and stdout instead of HTTP.
    #[arg(long)]
    stdio: bool,
    /// The upstream server as a command line, started per session, e.g. "npx -y PKG" (split
    /// like a shell would, without running one).
    #[arg(long, value_name = "CMD", conflicts_with_all = ["upstream_url", "command"])]
    upstream_cmd: Option<String>,
    /// The upstream server's streamable-HTTP URL, e.g. http://127.0.0.1:9000/mcp.
    #[arg(long, value_name = "URL", conflicts_with = "command")]
    upstream_url: Option<String>,
    /// The upstream command after `--`, as separate words.
    #[arg(last = true, value_name = "CMD ARGS")]
    command: Vec<String>,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    gate: GateArgs,
    /// A TOML policy file: which agents may use which tools, resources and prompts.
    #[arg(long, value_name = "FILE")]
    policy_file: Option<PathBuf>,
    /// A Redis URL for the replay store, shared by replicas.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// Append one JSON line per policy decision to FILE. It never contains a token.
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// Forward the verified identity upstream as plain claims in
    /// `_meta["io.github.attest-rs/verified-agent"]`.
    #[arg(long)]
    forward_identity: bool,
    /// A `Host` header value to serve (HTTP). Default: localhost, 127.0.0.1 and ::1 only.
    #[arg(long = "allowed-host", value_name = "HOST")]
    allowed_hosts: Vec<String>,
}

impl GatewayArgs {
    /// The upstream server, from exactly one of the three ways to name it.
    fn upstream(&self) -> Result<Upstream, CliError> {
        let invalid = |e: attest_gateway::GatewayError| CliError::usage(e.to_string());
        match (
            &self.upstream_cmd,
            &self.upstream_url,
            self.command.is_empty(),
        ) {
            (Some(line), None, true) => {
                let words = shlex::split(line)
                    .ok_or_else(|| CliError::usage("--upstream-cmd: unbalanced quotes"))?;
                Upstream::command(words).map_err(invalid)
            }
            (None, Some(url), true) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(CliError::usage(
                        "--upstream-url must be an http:// or https:// URL",
                    ));
                }
                Ok(Upstream::Url(url.clone()))
            }
            (None, None, false) => Upstream::command(self.command.clone()).map_err(invalid),
            (None, None, true) => Err(CliError::usage(
                "name the upstream server: --upstream-cmd, --upstream-url, or -- CMD ARGS",
            )),
            _ => Err(CliError::usage("name the upstream server only once")),
        }
    }

    fn options(&self) -> Result<GatewayOptions, CliError> {
        let policy = match &self.policy_file {
            Some(path) => GatewayPolicy::load(path).map_err(|e| CliError::usage(e.to_string()))?,
            None => GatewayPolicy::allow_all(),
        };
        let audit = match &self.audit_log {
            Some(path) => AuditLog::open(path).map_err(|e| CliError::usage(e.to_string()))?,
            None => AuditLog::disabled(),
        };
        let mut options = GatewayOptions::default();
        options.policy = PolicyHandle::new(policy);
        options.audit = audit;
        options.forward_identity = self.forward_identity;
        Ok(options)
    }
}

/// `attest gateway`.
pub(crate) fn run(args: &GatewayArgs) -> Result<(), CliError> {
    output::init_logging();
    let upstream = args.upstream()?;
    let options = args.options()?;
    runtime()?.block_on(async {
        let verifier = verifier(&args.policy, args.redis.as_deref()).await?;
        let gate = args.gate.gate(verifier)?;
        let audit = options.audit.clone();
        let gateway = Gateway::new(upstream.clone(), gate, options)
            .map_err(|e| CliError::failed(e.to_string()))?;
        reload_on_hangup(gateway.policy().clone(), args.policy_file.clone(), audit)?;
        eprintln!(
            "attest gateway: {}, trusting {}, audience {}, upstream {}",
            args.gate.describe(),
            args.policy.issuer.join(", "),
            args.policy.audience.join(", "),
            upstream.describe(),
        );
        match &args.listen {
            Some(listen) => serve_http(&gateway, listen, &args.allowed_hosts).await,
            None => gateway
                .serve_stdio()
                .await
                .map_err(|e| CliError::failed(e.to_string())),
        }
    })
}

/// Serves the gateway over HTTP at `listen` until SIGINT or SIGTERM, after checking that the
/// upstream server starts and answers.
async fn serve_http(
    gateway: &Gateway,
    listen: &str,
    allowed_hosts: &[String],
) -> Result<(), CliError> {
    let info = gateway
        .probe()
        .await
        .map_err(|e| CliError::failed(output::one_line(&e.to_string())))?;
    let name = info.server_info.map_or_else(
        || "(unnamed)".to_owned(),
        |s| format!("{} {}", s.name, s.version),
    );
    eprintln!("upstream: {name}, protocol {}", info.protocol_version);
    serve_mcp(listen, allowed_hosts, |config| {
        gateway.router_with_config(config)
    })
    .await
}

/// On every SIGHUP, reloads the policy file (if any) and reopens the audit log (for rotation).
/// A policy file that does not load keeps the old policy; either way the outcome is logged.
/// Open sessions keep running: each decision reads the policy current at that moment.
fn reload_on_hangup(
    policy: PolicyHandle,
    path: Option<PathBuf>,
    audit: AuditLog,
) -> Result<(), CliError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup())
        .map_err(|e| CliError::failed(format!("cannot handle SIGHUP: {e}")))?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            if let Some(path) = &path {
                match policy.reload_from(path) {
                    Ok(()) => {
                        tracing::info!(path = %path.display(), "policy reloaded");
                        eprintln!("policy reloaded from {}", path.display());
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "policy reload failed; keeping the old policy");
                        eprintln!(
                            "error: policy reload failed, keeping the old policy: {}",
                            output::one_line(&e.to_string())
                        );
                    }
                }
            }
            if audit.is_enabled()
                && let Err(e) = audit.reopen()
            {
                eprintln!(
                    "error: cannot reopen the audit log: {}",
                    output::one_line(&e.to_string())
                );
            }
        }
    });
    Ok(())
}
