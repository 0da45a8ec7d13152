//! Test harness for Companion: a real PostgreSQL per test.
//!
//! `TestDb::new().await` gives a fresh database with every migration applied. It is
//! copied (`CREATE DATABASE .. TEMPLATE ..`) from a template database that is built
//! once per migrations-content hash, under an advisory lock, so concurrent test
//! processes are safe. The cluster is `$DATABASE_URL` (a superuser URL) when set,
//! else the ephemeral one of `scripts/dev-db start` (started or reused).
//!
//! Helpers: [`create_user`], [`create_agent`], [`create_job`] for rows, and
//! [`as_user`] / [`as_anon`] for running queries under RLS the PostgREST way.
//!
//! [`stack`]: the one way to start PostgreSQL + server + user + agent (+ paper
//! terminal), for the `companion-stack` binary the scripts use and the Rust
//! end-to-end tests.

mod cluster;
mod error;
mod fixtures;
mod rls;
pub mod stack;
mod template;
mod testdb;

pub use cluster::{admin_url, migrations_dir, repo_root, try_admin_url, url_for_database};
pub use error::TestkitError;
pub use fixtures::{agent_broker_connection, create_agent, create_job, create_user};
pub use rls::{as_anon, as_role, as_user, user_claims};
pub use template::{migrations_hash, template_for, template_name};
pub use testdb::TestDb;
