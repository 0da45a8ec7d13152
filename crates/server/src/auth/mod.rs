//! Authentication: pairing keys and agents, users (JWT or agent key), failure limiting.

pub mod agent;
pub mod keys;
pub mod proxy;
pub mod rate_limit;
pub mod user;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;

use crate::config::Config;

pub use agent::{AgentAuth, KeyVerifier};
pub use user::{AuthVia, UserAuth};

/// The client address: the TCP peer, or what a trusted proxy says in
/// `X-Forwarded-For` (see [`proxy::client_address`]).
pub fn client_ip(parts: &Parts, config: &Config) -> IpAddr {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let forwarded: Vec<&str> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    proxy::client_address(
        peer,
        &forwarded,
        &config.trusted_proxies,
        config.trust_forwarded_for,
    )
}
