//! Windows service glue (Windows only): registers `companion-agent.exe service run`
//! with the Service Control Manager, removes it again, and runs the agent under the
//! SCM, turning its Stop and Shutdown controls into a graceful stop (in-flight jobs
//! finish and their results are reported before the process exits).

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use windows_service::service::{
    ServiceAccess, ServiceControl, ServiceControlAccept, ServiceErrorControl, ServiceExitCode,
    ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{
    self, ServiceControlHandlerResult, ServiceStatusHandle,
};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};

/// The service name `service install` uses unless told otherwise.
pub const DEFAULT_SERVICE_NAME: &str = "CompanionAgent";

/// How long `uninstall` waits for a running service to stop.
const STOP_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("the Service Control Manager refused to {action}: {source} (run this from an elevated prompt: right-click, \"Run as administrator\")")]
    Scm {
        action: &'static str,
        #[source]
        source: windows_service::Error,
    },
    #[error("no service named {0} is installed")]
    NotInstalled(String),
    #[error("the service {0} did not stop within 60 s; stop it with `sc stop {0}` and try again")]
    StopTimeout(String),
    #[error("this process was not started by the Service Control Manager: use `companion-agent run` in a console ({0})")]
    NotUnderScm(#[source] windows_service::Error),
}

fn scm(action: &'static str) -> impl FnOnce(windows_service::Error) -> ServiceError {
    move |source| ServiceError::Scm { action, source }
}

/// What `service install` registers.
#[derive(Debug, Clone)]
pub struct InstallSpec {
    pub name: String,
    /// The agent executable (normally the running one).
    pub exe: PathBuf,
    /// Arguments the SCM passes to `exe` (`service run --name … --data-dir …`).
    pub args: Vec<OsString>,
    /// `.\user` or `DOMAIN\user`; `None` = LocalSystem.
    pub account: Option<String>,
    pub password: Option<String>,
}

/// Registers the service, started automatically at boot.
pub fn install(spec: &InstallSpec) -> Result<(), ServiceError> {
    let manager = ServiceManager::local_computer(
        None::<&str>,
        ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
    )
    .map_err(scm("open the service manager"))?;
    let info = ServiceInfo {
        name: OsString::from(&spec.name),
        display_name: OsString::from("Companion agent (MetaTrader 5)"),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: spec.exe.clone(),
        launch_arguments: spec.args.clone(),
        dependencies: vec![],
        account_name: spec.account.as_ref().map(OsString::from),
        account_password: spec.password.as_ref().map(OsString::from),
    };
    let service = manager
        .create_service(&info, ServiceAccess::CHANGE_CONFIG)
        .map_err(scm("create the service"))?;
    // A description is cosmetic: a failure to set it does not undo the install.
    let _ = service.set_description(
        "Executes trading-platform jobs (TradingView signals, EA builds) on the local MetaTrader 5 terminal.",
    );
    Ok(())
}

/// Stops the service if it runs (waiting for the graceful stop), then deletes it.
pub fn uninstall(name: &str) -> Result<(), ServiceError> {
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .map_err(scm("open the service manager"))?;
    let service = manager
        .open_service(
            name,
            ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE,
        )
        .map_err(|e| match e {
            windows_service::Error::Winapi(ref io) if io.raw_os_error() == Some(1060) => {
                ServiceError::NotInstalled(name.to_string())
            }
            other => ServiceError::Scm {
                action: "open the service",
                source: other,
            },
        })?;
    let status = service.query_status().map_err(scm("query the service"))?;
    if status.current_state != ServiceState::Stopped {
        if status.current_state != ServiceState::StopPending {
            service.stop().map_err(scm("stop the service"))?;
        }
        let end = Instant::now() + STOP_WAIT;
        loop {
            let s = service.query_status().map_err(scm("query the service"))?;
            if s.current_state == ServiceState::Stopped {
                break;
            }
            if Instant::now() > end {
                return Err(ServiceError::StopTimeout(name.to_string()));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    service.delete().map_err(scm("delete the service"))?;
    Ok(())
}

/// The agent body the SCM runs: given the stop token, returns the process exit code.
pub type ServiceBody = Box<dyn FnOnce(CancellationToken) -> u32 + Send>;

struct Pending {
    name: String,
    body: ServiceBody,
}

fn pending() -> &'static Mutex<Option<Pending>> {
    static PENDING: OnceLock<Mutex<Option<Pending>>> = OnceLock::new();
    PENDING.get_or_init(|| Mutex::new(None))
}

define_windows_service!(ffi_service_main, service_main);

/// Hands this process to the SCM as service `name` and runs `body` under it. Blocks
/// until the service has stopped.
pub fn run(name: &str, body: ServiceBody) -> Result<(), ServiceError> {
    if let Ok(mut p) = pending().lock() {
        *p = Some(Pending {
            name: name.to_string(),
            body,
        });
    }
    service_dispatcher::start(name, ffi_service_main).map_err(ServiceError::NotUnderScm)
}

fn status(state: ServiceState, exit: u32, wait: Duration) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: if state == ServiceState::Running {
            ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
        } else {
            ServiceControlAccept::empty()
        },
        exit_code: if exit == 0 {
            ServiceExitCode::Win32(0)
        } else {
            ServiceExitCode::ServiceSpecific(exit)
        },
        checkpoint: 0,
        wait_hint: wait,
        process_id: None,
    }
}

fn status_handle() -> &'static OnceLock<ServiceStatusHandle> {
    static HANDLE: OnceLock<ServiceStatusHandle> = OnceLock::new();
    &HANDLE
}

fn service_main(_args: Vec<OsString>) {
    let Some(Pending { name, body }) = pending().lock().ok().and_then(|mut p| p.take()) else {
        return;
    };
    let stop = CancellationToken::new();
    let on_control = stop.clone();
    let registered = service_control_handler::register(&name, move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown | ServiceControl::Preshutdown => {
            tracing::info!(
                ?control,
                "service control: stopping (in-flight jobs finish first)"
            );
            if let Some(h) = status_handle().get() {
                let _ = h.set_service_status(status(
                    ServiceState::StopPending,
                    0,
                    Duration::from_secs(30),
                ));
            }
            on_control.cancel();
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    });
    let handle = match registered {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "cannot register the service control handler");
            return;
        }
    };
    let _ = status_handle().set(handle);
    if let Err(e) = handle.set_service_status(status(ServiceState::Running, 0, Duration::ZERO)) {
        tracing::error!(error = %e, "cannot report the service as running");
    }
    let code = body(stop);
    tracing::info!(exit_code = code, "service stopped");
    if let Err(e) = handle.set_service_status(status(ServiceState::Stopped, code, Duration::ZERO)) {
        tracing::error!(error = %e, "cannot report the service as stopped");
    }
}
