//! `attest keygen` and `attest jwks`: private keys in files with mode 0600, and the public JWK
//! Set for them. Also the key loading that `generate` and `issuer serve` share, and the
//! agent's public key for `generate --cnf-key`.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use attest_core::{Confirmation, Jwk, KeySet, PublicKey, SigningKey};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::output::{self, CliError, MAX_KEY_FILE};

/// Arguments of `attest keygen`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  # A new issuer key, written with mode 0600:
  attest keygen --kid issuer-2026-11 --out issuer.jwk

  # Replace an existing file:
  attest keygen --kid issuer-2026-12 --out issuer.jwk --force

  # To standard output, e.g. to pipe it into a secret store:
  attest keygen --kid issuer-2026-11

The file holds the private key (`d`): keep it secret. Publish only `attest jwks issuer.jwk`.")]
pub(crate) struct KeygenArgs {
    /// The key id (`kid`) under which the public key is published: 1 to 128 visible ASCII
    /// characters. Default: the key's RFC 7638 thumbprint.
    #[arg(long, value_name = "KID")]
    kid: Option<String>,
    /// Write the private JWK to FILE, created with mode 0600, instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Overwrite FILE if it exists (its mode is set to 0600 before the key is written).
    #[arg(long, requires = "out")]
    force: bool,
}

/// Arguments of `attest jwks`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  # The JWKS to publish at {issuer}/.well-known/jwks.json:
  attest jwks issuer.jwk > jwks.json

  # During a rotation, the current key and the previous one:
  attest jwks issuer-2026-12.jwk issuer-2026-11.jwk > jwks.json

Each FILE is a private or public Ed25519 JWK, or a JWK Set. The output never contains a
private key: only `kty`, `crv`, `kid`, `x`, `use` and `alg` are written.")]
pub(crate) struct JwksArgs {
    /// JWK files (private or public), or JWK Set files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// `attest keygen`.
pub(crate) fn keygen(args: &KeygenArgs) -> Result<(), CliError> {
    let key = SigningKey::generate(&mut output::os_rng()?);
    let key = match &args.kid {
        Some(kid) => key
            .with_kid(kid)
            .map_err(|e| CliError::usage(format!("--kid {kid:?}: {e}")))?,
        None => key,
    };
    let jwk = key.to_private_jwk();
    let json = Zeroizing::new(
        serde_json::to_string_pretty(&jwk).map_err(|e| CliError::failed(e.to_string()))?,
    );
    match &args.out {
        Some(path) => {
            write_private(path, json.as_bytes(), args.force)?;
            eprintln!(
                "wrote private key {} to {} (mode 0600); publish `attest jwks {}`",
                key.kid(),
                path.display(),
                path.display()
            );
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{}", json.as_str())
                .map_err(|e| CliError::failed(format!("writing to stdout: {e}")))?;
        }
    }
    Ok(())
}

/// Writes `contents` to a file only its owner can read: created with mode 0600, refusing an
/// existing file unless `force`, in which case its mode is narrowed before anything is written.
fn write_private(path: &Path, contents: &[u8], force: bool) -> Result<(), CliError> {
    let shown = path.display();
    let mut options = OpenOptions::new();
    options.write(true).mode(0o600);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            CliError::usage(format!("{shown} exists; pass --force to overwrite it"))
        }
        _ => CliError::usage(format!("cannot create {shown}: {e}")),
    })?;
    // `mode` applies only to a file this call created; an overwritten one keeps its mode.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| CliError::failed(format!("cannot set the mode of {shown}: {e}")))?;
    file.write_all(contents)
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::failed(format!("writing {shown}: {e}")))
}

/// `attest jwks`.
pub(crate) fn jwks(args: &JwksArgs) -> Result<(), CliError> {
    let mut keys: Vec<(String, PublicKey)> = Vec::new();
    for path in &args.files {
        keys.extend(public_keys_in(path)?);
    }
    let set = KeySet::from_keys(keys.iter().map(|(kid, key)| (kid.as_str(), key.clone())))
        .map_err(|e| CliError::usage(format!("cannot build the JWK Set: {e}")))?;
    let document: Value = serde_json::from_str(&set.to_jwks_json())
        .map_err(|e| CliError::failed(format!("cannot format the JWK Set: {e}")))?;
    println!("{}", output::pretty(&document));
    Ok(())
}

/// The public keys in a JWK or JWK Set file, with their kids. A private JWK is checked (its `x`
/// must match `d`) and only its public half is kept.
fn public_keys_in(path: &Path) -> Result<Vec<(String, PublicKey)>, CliError> {
    let text = Zeroizing::new(output::read_text(path, MAX_KEY_FILE, "key file")?);
    let shown = path.display();
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::usage(format!("{shown} is not JSON: {e}")))?;
    let entries: Vec<String> = match &value {
        Value::Object(map) if map.contains_key("keys") => match map.get("keys") {
            Some(Value::Array(entries)) => entries.iter().map(Value::to_string).collect(),
            _ => {
                return Err(CliError::usage(format!("{shown}: `keys` must be an array")));
            }
        },
        Value::Object(_) => vec![text.to_string()],
        _ => {
            return Err(CliError::usage(format!(
                "{shown} is neither a JWK nor a JWK Set"
            )));
        }
    };
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let entry = Zeroizing::new(entry.clone());
            public_key_of(&entry).map_err(|e| {
                let which = if entries.len() > 1 || value.get("keys").is_some() {
                    format!("{shown} key #{index}")
                } else {
                    shown.to_string()
                };
                CliError::usage(format!("{which}: {e}"))
            })
        })
        .collect()
}

fn public_key_of(json: &str) -> Result<(String, PublicKey), String> {
    let jwk = Jwk::from_json(json).map_err(|e| e.to_string())?;
    if jwk.d.is_some() {
        let key = SigningKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
        return Ok((key.kid().to_owned(), key.public_key()));
    }
    let key = PublicKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
    let kid = jwk.kid.ok_or("the JWK has no `kid`")?;
    Ok((kid, key))
}

/// Loads a private Ed25519 JWK (with `d` and `kid`) from `path`.
pub(crate) fn load_signing_key(path: &Path) -> Result<SigningKey, CliError> {
    let text = Zeroizing::new(output::read_text(path, MAX_KEY_FILE, "key file")?);
    let shown = path.display();
    let jwk =
        Jwk::from_json(&text).map_err(|e| CliError::usage(format!("{shown} is not a JWK: {e}")))?;
    if jwk.d.is_none() {
        return Err(CliError::usage(format!(
            "{shown} is a public key; signing needs the private JWK written by `attest keygen`"
        )));
    }
    SigningKey::from_jwk(&jwk)
        .map_err(|e| CliError::usage(format!("{shown} is not a usable Ed25519 private key: {e}")))
}

/// The `kid` under which a private key without one is imported: only its public half is kept.
const IMPORT_KID: &str = "agent";

/// Loads the agent's Ed25519 public key from `path`, for `cnf` (SPEC.md §17.1): a JWK, public
/// or private (as `attest keygen` writes it), or a PEM document, `PUBLIC KEY` (SPKI) or
/// `PRIVATE KEY` (PKCS#8). A private key is checked and only its public half is kept. Returns
/// the key and the JWK's `kid`, if it has one.
pub(crate) fn load_agent_key(path: &Path) -> Result<(PublicKey, Option<String>), CliError> {
    let text = Zeroizing::new(output::read_text(path, MAX_KEY_FILE, "key file")?);
    let shown = path.display();
    let trimmed = text.trim();
    let refused = |what: &str, e: &dyn std::fmt::Display| {
        CliError::usage(format!(
            "{shown} is not a usable Ed25519 {what}: {e}; --cnf-key takes the agent's Ed25519 \
             key as a JWK (public, or private as `attest keygen` writes it) or a PEM document"
        ))
    };
    if trimmed.starts_with("-----BEGIN PUBLIC KEY-----") {
        let key = PublicKey::from_public_key_pem(trimmed).map_err(|e| refused("public key", &e))?;
        return Ok((key, None));
    }
    if trimmed.starts_with("-----BEGIN PRIVATE KEY-----") {
        let key = SigningKey::from_pkcs8_pem(trimmed, IMPORT_KID)
            .map_err(|e| refused("private key", &e))?;
        return Ok((key.public_key(), None));
    }
    if let Some(label) = trimmed
        .strip_prefix("-----BEGIN ")
        .and_then(|rest| rest.split_once("-----"))
        .map(|(label, _)| label)
    {
        return Err(CliError::usage(format!(
            "{shown} is a PEM {}; --cnf-key takes an Ed25519 `PUBLIC KEY` or `PRIVATE KEY` \
             (PKCS#8) document, or a JWK",
            output::one_line(label).chars().take(40).collect::<String>()
        )));
    }
    let value: Value = serde_json::from_str(trimmed).map_err(|_| {
        CliError::usage(format!(
            "{shown} is neither a JWK nor a PEM document; --cnf-key takes the agent's Ed25519 \
             key"
        ))
    })?;
    if value.get("keys").is_some() {
        return Err(CliError::usage(format!(
            "{shown} is a JWK Set; --cnf-key takes one key (a JWK or a PEM document)"
        )));
    }
    if !value.is_object() {
        return Err(CliError::usage(format!("{shown} is not a JWK object")));
    }
    let jwk = Jwk::from_json(trimmed).map_err(|e| refused("key", &e))?;
    if jwk.d.is_some() {
        let mut private = jwk.clone();
        private.kid.get_or_insert_with(|| IMPORT_KID.to_owned());
        let key = SigningKey::from_jwk(&private).map_err(|e| refused("private key", &e))?;
        return Ok((key.public_key(), jwk.kid.clone()));
    }
    let key = PublicKey::from_jwk(&jwk).map_err(|e| refused("public key", &e))?;
    Ok((key, jwk.kid))
}

/// The public JWK bound into `cnf.jwk`: the members of RFC 7638 (`kty`, `crv`, `x`), and `kid`
/// when the agent's key has one. Rebuilt from the checked key, so it never carries `d` or any
/// other member of the input.
pub(crate) fn confirmation_jwk(key: &PublicKey, kid: Option<&str>) -> Jwk {
    let mut jwk = key.to_jwk(kid.unwrap_or_default());
    jwk.kid = kid.map(str::to_owned);
    jwk.use_ = None;
    jwk.alg = None;
    jwk
}

/// `cnf` for the agent's key: the key itself (`jwk`), or only its RFC 7638 thumbprint (`jkt`).
pub(crate) fn confirmation(
    key: &PublicKey,
    kid: Option<&str>,
    thumbprint_only: bool,
) -> Confirmation {
    if thumbprint_only {
        Confirmation {
            jkt: Some(key.thumbprint()),
            ..Confirmation::default()
        }
    } else {
        Confirmation {
            jwk: Some(confirmation_jwk(key, kid)),
            ..Confirmation::default()
        }
    }
}
