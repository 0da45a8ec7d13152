//! A job's `input_data` and `output_data` as one typed value per job type:
//! [`JobInput`] is what the server stores when it creates a job and what the agent
//! runs; [`JobOutput`] is what the agent reports and the server accepts. The JSON
//! in `jobs.input_data` / `output_data` is the inner type's, untagged (the job
//! type is its own column).

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::jobs::*;

/// The input of a job of any type.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per job, built once and moved: a trade's typed sizing, stops and filters make its variant the largest, boxing it would only add churn"
)]
pub enum JobInput {
    Compile(CompileInput),
    Deploy(DeployInput),
    Run(DeploymentRef),
    Stop(DeploymentRef),
    Test(TestInput),
    Trade(TradeInput),
    /// Takes no input (`{}`).
    GetPositions,
    /// Takes no input (`{}`).
    GetAccount,
    GetCandles(CandlesInput),
    ClosePosition(ClosePositionInput),
    ModifyPosition(ModifyPositionInput),
    CancelOrders(CancelOrdersInput),
}

impl JobInput {
    pub fn job_type(&self) -> JobType {
        match self {
            JobInput::Compile(_) => JobType::Compile,
            JobInput::Deploy(_) => JobType::Deploy,
            JobInput::Run(_) => JobType::Run,
            JobInput::Stop(_) => JobType::Stop,
            JobInput::Test(_) => JobType::Test,
            JobInput::Trade(_) => JobType::Trade,
            JobInput::GetPositions => JobType::GetPositions,
            JobInput::GetAccount => JobType::GetAccount,
            JobInput::GetCandles(_) => JobType::GetCandles,
            JobInput::ClosePosition(_) => JobType::ClosePosition,
            JobInput::ModifyPosition(_) => JobType::ModifyPosition,
            JobInput::CancelOrders(_) => JobType::CancelOrders,
        }
    }

    /// Reads `input_data` of a job of `job_type`. Unknown fields are ignored (the
    /// platform's web app may write jobs too); the input of `get_positions` /
    /// `get_account` is not read.
    pub fn from_value(job_type: JobType, v: &Value) -> Result<Self, serde_json::Error> {
        Ok(match job_type {
            JobType::Compile => JobInput::Compile(Deserialize::deserialize(v)?),
            JobType::Deploy => JobInput::Deploy(Deserialize::deserialize(v)?),
            JobType::Run => JobInput::Run(Deserialize::deserialize(v)?),
            JobType::Stop => JobInput::Stop(Deserialize::deserialize(v)?),
            JobType::Test => JobInput::Test(Deserialize::deserialize(v)?),
            JobType::Trade => JobInput::Trade(Deserialize::deserialize(v)?),
            JobType::GetPositions => JobInput::GetPositions,
            JobType::GetAccount => JobInput::GetAccount,
            JobType::GetCandles => JobInput::GetCandles(Deserialize::deserialize(v)?),
            JobType::ClosePosition => JobInput::ClosePosition(Deserialize::deserialize(v)?),
            JobType::ModifyPosition => JobInput::ModifyPosition(Deserialize::deserialize(v)?),
            JobType::CancelOrders => JobInput::CancelOrders(Deserialize::deserialize(v)?),
        })
    }
}

/// The inner input, as stored in `jobs.input_data`.
impl Serialize for JobInput {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            JobInput::Compile(i) => i.serialize(s),
            JobInput::Deploy(i) => i.serialize(s),
            JobInput::Run(i) | JobInput::Stop(i) => i.serialize(s),
            JobInput::Test(i) => i.serialize(s),
            JobInput::Trade(i) => i.serialize(s),
            JobInput::GetPositions | JobInput::GetAccount => serde_json::Map::new().serialize(s),
            JobInput::GetCandles(i) => i.serialize(s),
            JobInput::ClosePosition(i) => i.serialize(s),
            JobInput::ModifyPosition(i) => i.serialize(s),
            JobInput::CancelOrders(i) => i.serialize(s),
        }
    }
}

/// The output of a completed job of any type.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutput {
    Compile(CompileOutput),
    Deploy(DeployOutput),
    Run(RunOutput),
    Stop(StopOutput),
    Test(TestOutput),
    Trade(TradeOutput),
    GetPositions(PositionsOutput),
    GetAccount(AccountOutput),
    GetCandles(CandlesOutput),
    ClosePosition(ClosePositionOutput),
    ModifyPosition(ModifyPositionOutput),
    CancelOrders(CancelOrdersOutput),
}

impl JobOutput {
    pub fn job_type(&self) -> JobType {
        match self {
            JobOutput::Compile(_) => JobType::Compile,
            JobOutput::Deploy(_) => JobType::Deploy,
            JobOutput::Run(_) => JobType::Run,
            JobOutput::Stop(_) => JobType::Stop,
            JobOutput::Test(_) => JobType::Test,
            JobOutput::Trade(_) => JobType::Trade,
            JobOutput::GetPositions(_) => JobType::GetPositions,
            JobOutput::GetAccount(_) => JobType::GetAccount,
            JobOutput::GetCandles(_) => JobType::GetCandles,
            JobOutput::ClosePosition(_) => JobType::ClosePosition,
            JobOutput::ModifyPosition(_) => JobType::ModifyPosition,
            JobOutput::CancelOrders(_) => JobType::CancelOrders,
        }
    }

    /// Reads `output_data` of a completed job of `job_type`.
    pub fn from_value(job_type: JobType, v: &Value) -> Result<Self, serde_json::Error> {
        Ok(match job_type {
            JobType::Compile => JobOutput::Compile(Deserialize::deserialize(v)?),
            JobType::Deploy => JobOutput::Deploy(Deserialize::deserialize(v)?),
            JobType::Run => JobOutput::Run(Deserialize::deserialize(v)?),
            JobType::Stop => JobOutput::Stop(Deserialize::deserialize(v)?),
            JobType::Test => JobOutput::Test(Deserialize::deserialize(v)?),
            JobType::Trade => JobOutput::Trade(Deserialize::deserialize(v)?),
            JobType::GetPositions => JobOutput::GetPositions(Deserialize::deserialize(v)?),
            JobType::GetAccount => JobOutput::GetAccount(Deserialize::deserialize(v)?),
            JobType::GetCandles => JobOutput::GetCandles(Deserialize::deserialize(v)?),
            JobType::ClosePosition => JobOutput::ClosePosition(Deserialize::deserialize(v)?),
            JobType::ModifyPosition => JobOutput::ModifyPosition(Deserialize::deserialize(v)?),
            JobType::CancelOrders => JobOutput::CancelOrders(Deserialize::deserialize(v)?),
        })
    }
}

/// The inner output, as stored in `jobs.output_data`.
impl Serialize for JobOutput {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            JobOutput::Compile(o) => o.serialize(s),
            JobOutput::Deploy(o) => o.serialize(s),
            JobOutput::Run(o) => o.serialize(s),
            JobOutput::Stop(o) => o.serialize(s),
            JobOutput::Test(o) => o.serialize(s),
            JobOutput::Trade(o) => o.serialize(s),
            JobOutput::GetPositions(o) => o.serialize(s),
            JobOutput::GetAccount(o) => o.serialize(s),
            JobOutput::GetCandles(o) => o.serialize(s),
            JobOutput::ClosePosition(o) => o.serialize(s),
            JobOutput::ModifyPosition(o) => o.serialize(s),
            JobOutput::CancelOrders(o) => o.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inputs_round_trip_untagged_and_know_their_type() {
        let v = json!({"symbol": "EURUSD", "side": "buy", "volume": 0.1});
        let i = JobInput::from_value(JobType::Trade, &v).unwrap();
        assert_eq!(i.job_type(), JobType::Trade);
        assert_eq!(serde_json::to_value(&i).unwrap(), v);
        let none = JobInput::from_value(JobType::GetAccount, &Value::Null).unwrap();
        assert_eq!(serde_json::to_value(&none).unwrap(), json!({}));
        assert!(JobInput::from_value(JobType::Run, &json!({})).is_err());
    }

    #[test]
    fn outputs_are_checked_against_their_type() {
        let v = json!({"running": true});
        let o = JobOutput::from_value(JobType::Run, &v).unwrap();
        assert_eq!(o.job_type(), JobType::Run);
        assert_eq!(serde_json::to_value(&o).unwrap(), v);
        assert!(JobOutput::from_value(JobType::Stop, &v).is_err());
    }

    #[test]
    fn trade_management_inputs_round_trip() {
        let m = json!({"symbol": "EURUSD", "side": "buy", "magics": [7],
                       "sl": {"value": 20.0, "unit": "pips"}});
        let i = JobInput::from_value(JobType::ModifyPosition, &m).unwrap();
        assert_eq!(i.job_type(), JobType::ModifyPosition);
        assert_eq!(serde_json::to_value(&i).unwrap(), m);
        let c = json!({"symbol": "EURUSD", "side": "sell", "magics": [7]});
        let i = JobInput::from_value(JobType::CancelOrders, &c).unwrap();
        assert_eq!(serde_json::to_value(&i).unwrap(), c);
        let p = json!({"symbol": "EURUSD", "side": "buy", "volume": 0.1, "order_type": "limit",
                       "entry_offset": {"value": 10.0, "unit": "pips"}});
        match JobInput::from_value(JobType::Trade, &p).unwrap() {
            JobInput::Trade(t) => assert!(t.is_pending()),
            other => panic!("not a trade: {other:?}"),
        }
        let partial = json!({"symbol": "EURUSD", "percent": 50.0});
        let i = JobInput::from_value(JobType::ClosePosition, &partial).unwrap();
        assert_eq!(serde_json::to_value(&i).unwrap(), partial);
        assert!(JobOutput::from_value(JobType::CancelOrders, &json!({"cancelled": []})).is_ok());
        assert!(JobOutput::from_value(JobType::ModifyPosition, &json!({"x": 1})).is_err());
    }
}
