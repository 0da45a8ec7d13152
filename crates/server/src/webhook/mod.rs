//! The TradingView webhook: `POST /api/v1/webhooks/tv/{webhook_secret}`.
//! `parse` reads alert messages, `sizing` turns them into order sizes.

pub mod parse;
pub mod sizing;
