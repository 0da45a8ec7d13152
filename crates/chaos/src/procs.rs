//! Child processes the chaos run starts, kills and restarts: each is a command line
//! with its environment and a log file, so it can be started again exactly as before.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::{Child, Command};

/// A restartable child process.
pub struct Proc {
    pub name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    log: PathBuf,
    child: Option<Child>,
    pub starts: u32,
}

impl Proc {
    pub fn new(name: &'static str, program: PathBuf, args: Vec<String>, log: PathBuf) -> Self {
        Proc {
            name,
            program,
            args,
            env: BTreeMap::new(),
            log,
            child: None,
            starts: 0,
        }
    }

    pub fn env(mut self, k: &str, v: impl Into<String>) -> Self {
        self.env.insert(k.to_string(), v.into());
        self
    }

    /// Sets an environment variable for the next start.
    pub fn set_env(&mut self, k: &str, v: impl Into<String>) {
        self.env.insert(k.to_string(), v.into());
    }

    /// Replaces the arguments used by the next start.
    pub fn set_args(&mut self, args: Vec<String>) {
        self.args = args;
    }

    /// Starts the process (its output appended to its log file).
    pub fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", self.program.display()))?;
        self.child = Some(child);
        self.starts += 1;
        Ok(())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// True when the process has exited (or was never started).
    pub fn exited(&mut self) -> bool {
        match &mut self.child {
            None => true,
            Some(c) => !matches!(c.try_wait(), Ok(None)),
        }
    }

    /// SIGKILL, then reap.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
    }

    /// SIGTERM (graceful), SIGKILL after `grace`.
    pub async fn terminate(&mut self, grace: std::time::Duration) {
        if let Some(mut c) = self.child.take() {
            if let Some(pid) = c.id() {
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .await;
            }
            if tokio::time::timeout(grace, c.wait()).await.is_err() {
                let _ = c.start_kill();
                let _ = c.wait().await;
            }
        }
    }
}
