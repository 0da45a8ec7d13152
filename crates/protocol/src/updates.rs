//! The update protocol shared by the server, the release tool and `companion-agent
//! update`: the answer of `GET /api/v1/updates/...` and the signature check, which is
//! the one tauri-plugin-updater makes (minisign over the artifact with the updater's
//! public key, then the `version:` field of the signed trusted comment against the
//! announced version).
//!
//! Keys and signatures are in the updater's format: base64 of the minisign key or
//! signature file text (what `tauri signer generate` / `tauri signer sign` write).

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// What an update check answers when an update exists (Tauri's "dynamic" format):
/// the server sends it, the agent and the app's updater read it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = UpdateManifest))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateInfo {
    pub version: String,
    pub url: String,
    /// base64 of the minisign signature text.
    pub signature: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pub_date: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("the public key is not a minisign public key: {0}")]
    PublicKey(String),
    #[error("the signature is not a minisign signature: {0}")]
    Malformed(String),
    #[error("the signature does not match the artifact or was not made with the updater key: {0}")]
    Invalid(String),
    #[error("the artifact was signed for version {signed}, not the announced {announced}")]
    VersionMismatch { signed: String, announced: String },
    #[error("the signature does not name the version it was made for")]
    MissingVersion,
}

/// The text of a minisign file given as the updater's base64 of it, or as the text.
fn minisign_text(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.contains("untrusted comment:") {
        return Ok(value.to_string());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

/// The public key from its updater (`pubkey`) form or the `.pub` file text.
pub fn public_key(pubkey: &str) -> Result<minisign_verify::PublicKey, SignatureError> {
    let text = minisign_text(pubkey).map_err(SignatureError::PublicKey)?;
    minisign_verify::PublicKey::decode(&text).map_err(|e| SignatureError::PublicKey(e.to_string()))
}

/// Checks `data` against `signature` (a `.sig` file's content) and `pubkey`, and that the
/// signature was made for `version` (its trusted comment's `version:` field, which
/// `tauri signer sign --app-version` and `companion-release sign` write). A signature
/// that names no version is refused: every signature this project makes names one.
pub fn verify_artifact(
    data: &[u8],
    signature: &str,
    pubkey: &str,
    version: &str,
) -> Result<(), SignatureError> {
    let key = public_key(pubkey)?;
    let text = minisign_text(signature).map_err(SignatureError::Malformed)?;
    let sig = minisign_verify::Signature::decode(&text)
        .map_err(|e| SignatureError::Malformed(e.to_string()))?;
    key.verify(data, &sig, true)
        .map_err(|e| SignatureError::Invalid(e.to_string()))?;
    // The trusted comment is covered by the global signature checked above.
    let signed = sig
        .trusted_comment()
        .split('\t')
        .find_map(|f| f.strip_prefix("version:"))
        .ok_or(SignatureError::MissingVersion)?;
    let same = match (
        semver::Version::parse(signed.trim_start_matches('v')),
        semver::Version::parse(version.trim_start_matches('v')),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => signed == version,
    };
    if same {
        Ok(())
    } else {
        Err(SignatureError::VersionMismatch {
            signed: signed.to_string(),
            announced: version.to_string(),
        })
    }
}
