//! Authentication: pairing keys and agents, users (JWT or agent key), failure limiting.

pub mod agent;
pub mod keys;
pub mod rate_limit;
pub mod user;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;

pub use agent::{AgentAuth, KeyVerifier};
pub use user::{AuthVia, UserAuth};

/// The client address: the TCP peer, or the last `X-Forwarded-For` hop when the
/// server is configured to sit behind a trusted proxy.
pub fn client_ip(parts: &Parts, trust_forwarded_for: bool) -> IpAddr {
    if trust_forwarded_for {
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok());
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}
