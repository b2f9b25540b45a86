//! Reading a server's refusal: from `ErrorData`, from a failed request end to end, and from a
//! failed `initialize`.

use attest_core::Reason;
use attest_mcp_client::{AttestationRejection, ClientError, rejection_reason};
use attest_protocol::{AttestationError, Enforcement};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ErrorCode, ErrorData, InitializeRequestParams,
    InitializeResult, ServerCapabilities, ServerConfig,
};
use rmcp::service::{ClientInitializeError, RequestContext};
use rmcp::{RoleServer, ServerHandler, ServiceError, ServiceExt};
use serde_json::json;

fn error_data(error: &AttestationError) -> ErrorData {
    let rpc = error.to_json_rpc();
    ErrorData::new(
        ErrorCode(i32::try_from(rpc.code).unwrap()),
        rpc.message,
        rpc.data,
    )
}

fn replay() -> AttestationError {
    AttestationError::new(
        Reason::Replay,
        Enforcement::Required,
        ["https://issuer.example"],
    )
}

#[test]
fn every_reason_round_trips_through_error_data() {
    for reason in Reason::ALL {
        let error = AttestationError::new(
            reason,
            Enforcement::Preferred,
            ["https://a.example", "https://b.example"],
        );
        let data = error_data(&error);
        assert_eq!(
            data.attestation_rejection(),
            Some(error.clone()),
            "{reason}"
        );
        assert_eq!(data.rejection_reason(), Some(reason));
        match data.rejected() {
            Some(ClientError::Rejected {
                reason: r,
                policy,
                trusted_issuers,
            }) => {
                assert_eq!(r, reason);
                assert_eq!(policy, Enforcement::Preferred);
                assert_eq!(trusted_issuers, ["https://a.example", "https://b.example"]);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn other_errors_are_not_refusals() {
    let plain = ErrorData::invalid_params("bad arguments", None);
    assert_eq!(plain.attestation_rejection(), None);
    // The reason's code must match: a forged or confused error is not read as a refusal.
    let mut wrong_code = error_data(&replay());
    wrong_code.code = ErrorCode(-32002);
    assert_eq!(wrong_code.rejection_reason(), None);
    let unknown = ErrorData::new(
        ErrorCode(-31012),
        "x",
        Some(json!({"reason": "attestation_bogus", "policy": "required"})),
    );
    assert_eq!(unknown.rejection_reason(), None);
    assert_eq!(ServiceError::TransportClosed.rejection_reason(), None);
}

/// A plain rmcp server that refuses every tool call, or `initialize`, with an attestation error.
#[derive(Clone)]
struct Refusing {
    at_initialize: bool,
}

impl ServerHandler for Refusing {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        if self.at_initialize {
            let refusal = AttestationError::new(
                Reason::Required,
                Enforcement::Required,
                ["https://issuer.example"],
            );
            return Err(error_data(&refusal));
        }
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn call_tool(
        &self,
        _request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        Err(error_data(&replay()))
    }
}

#[tokio::test]
async fn a_refused_request_yields_the_reason() {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = (Refusing {
            at_initialize: false,
        })
        .serve(server_io)
        .await
        {
            let _ = running.waiting().await;
        }
    });
    let client = ().serve(client_io).await.unwrap();
    let error = client
        .call_tool(CallToolRequestParams::new("anything"))
        .await
        .unwrap_err();
    assert_eq!(rejection_reason(&error), Some(Reason::Replay));
    assert_eq!(error.attestation_rejection(), Some(replay()));
    let typed = error.rejected().unwrap();
    assert_eq!(typed.rejection_reason(), Some(Reason::Replay));
    assert!(typed.to_string().contains("attestation_replay"), "{typed}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_refused_initialize_yields_the_reason() {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let _ = (Refusing {
            at_initialize: true,
        })
        .serve(server_io)
        .await;
    });
    let error: ClientInitializeError = ().serve(client_io).await.unwrap_err();
    assert_eq!(
        error.rejection_reason(),
        Some(Reason::Required),
        "{error:?}"
    );
}
