//! `companion-release`: the signing and manifest half of `scripts/release`.
//!
//! - `keygen DIR`: a new updater key pair, `DIR/updater.key` (private, encrypted with
//!   `TAURI_SIGNING_PRIVATE_KEY_PASSWORD`, default empty) and `DIR/updater.key.pub`, in
//!   the format `tauri signer generate` writes. For tests and first setup.
//! - `sign --version V FILE...`: writes `FILE.sig` with the key in
//!   `TAURI_SIGNING_PRIVATE_KEY` (the key text or a path to it; password in
//!   `TAURI_SIGNING_PRIVATE_KEY_PASSWORD`), as `tauri signer sign --app-version V` does
//!   (trusted comment `timestamp:…\tfile:…\tversion:V`).
//! - `publish --releases-dir DIR --version V --pubkey KEY KIND=FILE...`: checks every
//!   `FILE.sig` against `KEY` (the public key the apps and agents embed) exactly as they
//!   will, copies `FILE` and `FILE.sig` to `DIR/V/` and writes `DIR/latest.json`
//!   (`companion_server::updates::ReleaseManifest`, the format the server reads).
//!   `KIND` is the platforms key: `{target}-{arch}-{bundle_type}` or `{target}-{arch}`.
//!   A manifest already there for the same version is merged into (platforms built on
//!   another machine); one for a newer version is refused.
//!
//! The private key and its password are read from the environment only: never from
//! the command line, never printed.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine as _;
use clap::{Parser, Subcommand};
use companion_server::updates::{PlatformArtifact, ReleaseManifest, MANIFEST_FILE};

#[derive(Parser)]
#[command(about = "Sign release artifacts and write the update manifest the server serves")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Generate an updater key pair in DIR (updater.key, updater.key.pub).
    Keygen { dir: PathBuf },
    /// Sign FILEs with TAURI_SIGNING_PRIVATE_KEY, writing FILE.sig.
    Sign {
        #[arg(long)]
        version: String,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Check signatures and publish KIND=FILE artifacts into the releases directory.
    Publish {
        #[arg(long, env = "RELEASES_DIR")]
        releases_dir: PathBuf,
        #[arg(long)]
        version: String,
        /// The updater public key (the `pubkey` value, the .pub text, or a path to it).
        #[arg(long, env = "TAURI_SIGNING_PUBLIC_KEY")]
        pubkey: String,
        #[arg(long)]
        notes: Option<String>,
        /// Absolute URL prefix for the artifacts; default: relative to the releases
        /// directory (served by the server at /api/v1/releases/...).
        #[arg(long)]
        base_url: Option<String>,
        /// `linux-x86_64-deb=target/.../companion_0.2.0_amd64.deb` ...
        #[arg(required = true)]
        artifacts: Vec<String>,
    },
}

#[derive(Debug, thiserror::Error)]
enum ReleaseError {
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("signing key: {0}")]
    Key(String),
    #[error("{file}: {source}")]
    Signature {
        file: PathBuf,
        source: companion_protocol::updates::SignatureError,
    },
    #[error("{0}")]
    Manifest(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReleaseError + '_ {
    move |source| ReleaseError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A value given as text or as a path to a file holding it.
fn text_or_file(value: &str) -> Result<String, ReleaseError> {
    let path = Path::new(value.trim());
    if !value.contains('\n') && value.len() < 4096 && path.is_file() {
        return std::fs::read_to_string(path).map_err(io(path));
    }
    Ok(value.to_string())
}

/// Minisign file text from the updater's base64 form or the text itself.
fn minisign_text(value: &str) -> Result<String, ReleaseError> {
    let value = value.trim();
    if value.contains("untrusted comment:") {
        return Ok(value.to_string());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|e| ReleaseError::Key(format!("not base64: {e}")))?;
    String::from_utf8(bytes).map_err(|_| ReleaseError::Key("not text".into()))
}

fn password() -> String {
    std::env::var("TAURI_SIGNING_PRIVATE_KEY_PASSWORD").unwrap_or_default()
}

fn write_new(path: &Path, text: &str) -> Result<(), ReleaseError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(io(path))?;
    f.write_all(text.as_bytes()).map_err(io(path))
}

fn keygen(dir: &Path) -> Result<(), ReleaseError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let kp = minisign::KeyPair::generate_encrypted_keypair(Some(password()))
        .map_err(|e| ReleaseError::Key(e.to_string()))?;
    let sk = kp
        .sk
        .to_box(None)
        .map_err(|e| ReleaseError::Key(e.to_string()))?
        .into_string();
    let pk = kp
        .pk
        .to_box()
        .map_err(|e| ReleaseError::Key(e.to_string()))?
        .into_string();
    write_new(&dir.join("updater.key"), &b64(&sk))?;
    write_new(&dir.join("updater.key.pub"), &b64(&pk))?;
    println!("{}", dir.join("updater.key.pub").display());
    Ok(())
}

fn sign(version: &str, files: &[PathBuf]) -> Result<(), ReleaseError> {
    semver::Version::parse(version.trim_start_matches('v'))
        .map_err(|e| ReleaseError::Usage(format!("--version {version:?}: {e}")))?;
    let key = std::env::var("TAURI_SIGNING_PRIVATE_KEY").map_err(|_| {
        ReleaseError::Key("set TAURI_SIGNING_PRIVATE_KEY (key text or path)".into())
    })?;
    let key_text = minisign_text(&text_or_file(&key)?)?;
    let sk_box = minisign::SecretKeyBox::from_string(&key_text)
        .map_err(|e| ReleaseError::Key(format!("not a minisign secret key: {e}")))?;
    let sk = sk_box
        .into_secret_key(Some(password()))
        .map_err(|e| ReleaseError::Key(format!("cannot decrypt (wrong password?): {e}")))?;
    for file in files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| ReleaseError::Usage(format!("{}: no file name", file.display())))?;
        let data = std::fs::File::open(file).map_err(io(file))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let trusted = format!("timestamp:{now}\tfile:{name}\tversion:{version}");
        let sig = minisign::sign(
            None,
            &sk,
            data,
            Some(&trusted),
            Some("signature from companion-release secret key"),
        )
        .map_err(|e| ReleaseError::Key(e.to_string()))?;
        let out = sig_path(file);
        std::fs::write(&out, b64(&sig.into_string())).map_err(io(&out))?;
        println!("{}", out.display());
    }
    Ok(())
}

fn sig_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

const KNOWN_TARGETS: &[&str] = &["linux", "windows", "darwin"];

fn check_kind(kind: &str) -> Result<(), ReleaseError> {
    let parts: Vec<&str> = kind.split('-').collect();
    let ok = match parts.as_slice() {
        [t, a] => KNOWN_TARGETS.contains(t) && !a.is_empty(),
        [t, a, b] => {
            KNOWN_TARGETS.contains(t)
                && !a.is_empty()
                && companion_server::updates::BUNDLE_TYPES.contains(b)
                && *b != "unknown"
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ReleaseError::Usage(format!(
            "{kind:?} is not {{target}}-{{arch}}[-{{bundle_type}}] (targets {}, bundle types {})",
            KNOWN_TARGETS.join("/"),
            companion_server::updates::BUNDLE_TYPES.join("/")
        )))
    }
}

fn publish(
    dir: &Path,
    version: &str,
    pubkey: &str,
    notes: Option<String>,
    base_url: Option<String>,
    artifacts: &[String],
) -> Result<(), ReleaseError> {
    let new_version = semver::Version::parse(version.trim_start_matches('v'))
        .map_err(|e| ReleaseError::Usage(format!("--version {version:?}: {e}")))?;
    let pubkey = text_or_file(pubkey)?;
    companion_protocol::updates::public_key(&pubkey)
        .map_err(|e| ReleaseError::Key(e.to_string()))?;
    let version = new_version.to_string();

    // Check everything before copying anything.
    let mut entries = Vec::new();
    for a in artifacts {
        let (kind, file) = a
            .split_once('=')
            .ok_or_else(|| ReleaseError::Usage(format!("{a:?} is not KIND=FILE")))?;
        check_kind(kind)?;
        let file = PathBuf::from(file);
        let data = std::fs::read(&file).map_err(io(&file))?;
        let sig_file = sig_path(&file);
        let signature = std::fs::read_to_string(&sig_file)
            .map_err(io(&sig_file))?
            .trim()
            .to_string();
        companion_protocol::updates::verify_artifact(&data, &signature, &pubkey, &version)
            .map_err(|source| ReleaseError::Signature {
                file: file.clone(),
                source,
            })?;
        entries.push((kind.to_string(), file, signature));
    }

    let manifest_path = dir.join(MANIFEST_FILE);
    let mut platforms = Default::default();
    match std::fs::read_to_string(&manifest_path) {
        Ok(text) => {
            let old: ReleaseManifest = serde_json::from_str(&text)
                .map_err(|e| ReleaseError::Manifest(format!("{}: {e}", manifest_path.display())))?;
            let old_version = semver::Version::parse(old.version.trim_start_matches('v'))
                .map_err(|e| ReleaseError::Manifest(format!("{}: {e}", manifest_path.display())))?;
            if old_version > new_version {
                return Err(ReleaseError::Manifest(format!(
                    "{} already publishes {old_version}, newer than {new_version}",
                    manifest_path.display()
                )));
            }
            if old_version == new_version {
                platforms = old.platforms;
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&manifest_path)(e)),
    }

    let vdir = dir.join(&version);
    std::fs::create_dir_all(&vdir).map_err(io(&vdir))?;
    for (kind, file, signature) in entries {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| ReleaseError::Usage(format!("{}: no file name", file.display())))?
            .to_string();
        let dest = vdir.join(&name);
        if dest != file {
            std::fs::copy(&file, &dest).map_err(io(&dest))?;
            std::fs::write(sig_path(&dest), &signature).map_err(io(&dest))?;
        }
        let rel = format!("{version}/{name}");
        let url = match &base_url {
            Some(b) => format!("{}/{rel}", b.trim_end_matches('/')),
            None => rel,
        };
        platforms.insert(kind, PlatformArtifact { url, signature });
    }
    let manifest = ReleaseManifest {
        version: version.clone(),
        notes: Some(notes.unwrap_or_else(|| format!("Companion {version}"))),
        pub_date: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        platforms,
    };
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| ReleaseError::Manifest(e.to_string()))?;
    // Atomic: the server may be reading it right now.
    let tmp = dir.join(format!(".{MANIFEST_FILE}.tmp"));
    std::fs::write(&tmp, text + "\n").map_err(io(&tmp))?;
    std::fs::rename(&tmp, &manifest_path).map_err(io(&manifest_path))?;
    println!("{}", manifest_path.display());
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Keygen { dir } => keygen(&dir),
        Cmd::Sign { version, files } => sign(&version, &files),
        Cmd::Publish {
            releases_dir,
            version,
            pubkey,
            notes,
            base_url,
            artifacts,
        } => publish(
            &releases_dir,
            &version,
            &pubkey,
            notes,
            base_url,
            &artifacts,
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("companion-release: {e}");
            ExitCode::from(match e {
                ReleaseError::Usage(_) => 2,
                _ => 1,
            })
        }
    }
}
