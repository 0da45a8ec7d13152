//! The EA lifecycle: `compile` and `test` through the toolchain, `deploy` (a chart
//! with the compiled expert, journaled), `run` and `stop` of a deployed chart.

use companion_protocol::{
    CompileInput, DeployInput, DeployOutput, DeploymentRef, JobResultRequest, ResultStatus,
    RunOutput, StopOutput, TestInput, TestOutput,
};
use companion_terminal::{ChartDeployment, Terminal};

use super::{completed, describe_terminal_error, failed, Executor};
use crate::journal::{DeploymentRecord, JournalError};
use crate::toolchain::{expert_name, Toolchain, ToolchainError};

impl<T: Terminal + 'static, C: Toolchain + 'static> Executor<T, C> {
    pub(super) async fn compile(&self, input: CompileInput) -> JobResultRequest {
        match self
            .toolchain
            .compile(input.version_id, &input.source)
            .await
        {
            Ok(out) if out.compiled => completed(&out),
            Ok(out) => {
                let first = out
                    .errors
                    .first()
                    .map(|d| {
                        format!(
                            "; first: {}({},{}) error {}: {}",
                            d.file, d.line, d.column, d.code, d.message
                        )
                    })
                    .unwrap_or_default();
                JobResultRequest {
                    status: ResultStatus::Failed,
                    error_message: Some(format!(
                        "compilation failed: {} error(s), {} warning(s){first}",
                        out.errors.len(),
                        out.warnings.len()
                    )),
                    output_data: serde_json::to_value(&out).ok(),
                }
            }
            Err(e) => failed(toolchain_message(&e)),
        }
    }

    pub(super) async fn test(&self, input: TestInput) -> JobResultRequest {
        match self.toolchain.test(&input).await {
            Ok(report) => completed(&TestOutput { report }),
            Err(e) => failed(toolchain_message(&e)),
        }
    }

    pub(super) async fn deploy(
        &self,
        input: DeployInput,
    ) -> Result<JobResultRequest, JournalError> {
        if let Err(r) = self.require_connected().await {
            return Ok(r);
        }
        let expert = expert_name(input.version_id);
        let d = ChartDeployment {
            expert: expert.clone(),
            symbol: input.symbol.clone(),
            timeframe: input.timeframe,
            magic: input.magic_number,
            inputs: input.inputs.clone().unwrap_or_default(),
        };
        match self.terminal.deploy(&d).await {
            Ok(chart_id) => {
                self.journal
                    .save_deployment(&DeploymentRecord {
                        deployment_id: input.deployment_id,
                        chart_id,
                        expert,
                        symbol: input.symbol,
                        timeframe: format!("{:?}", input.timeframe),
                        running: true,
                    })
                    .await?;
                Ok(completed(&DeployOutput {
                    deployed: true,
                    chart_id,
                }))
            }
            Err(e) => Ok(failed(format!(
                "deploy failed: {}",
                describe_terminal_error(&e)
            ))),
        }
    }

    pub(super) async fn run_or_stop(
        &self,
        input: DeploymentRef,
        run: bool,
    ) -> Result<JobResultRequest, JournalError> {
        let Some(dep) = self.journal.deployment(input.deployment_id).await? else {
            return Ok(failed(format!(
                "deployment {} is not known to this agent (no chart was opened for it here); deploy it first",
                input.deployment_id
            )));
        };
        if let Err(r) = self.require_connected().await {
            return Ok(r);
        }
        let reply = if run {
            self.terminal.run(dep.chart_id).await
        } else {
            self.terminal.stop(dep.chart_id).await
        };
        match reply {
            Ok(()) => {
                self.journal
                    .set_deployment_running(input.deployment_id, run)
                    .await?;
                Ok(if run {
                    completed(&RunOutput { running: true })
                } else {
                    completed(&StopOutput { stopped: true })
                })
            }
            Err(e) => Ok(failed(format!(
                "{} failed on chart {}: {}",
                if run { "run" } else { "stop" },
                dep.chart_id,
                describe_terminal_error(&e)
            ))),
        }
    }
}

fn toolchain_message(e: &ToolchainError) -> String {
    e.to_string()
}
