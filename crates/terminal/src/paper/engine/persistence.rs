//! The paper terminal's persistence: the orders log (one line per order, the
//! order's commit record), the state file (the book, written atomically), and the
//! replay at start of logged orders the last run did not save.

use std::io::Write;

use serde::{Deserialize, Serialize};

use super::Engine;

/// One line of `--orders-log`. With a state file, the line is also the order's
/// commit record: it is appended (one write) before the book is saved, and at start
/// every line of this book newer than the saved book is replayed into it, so a kill
/// between the two writes can neither lose the order's record nor its effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderLogLine {
    pub time_us: i64,
    pub comment: String,
    pub symbol: String,
    pub side: String,
    pub volume: f64,
    /// Ticket of the opened position; absent when rejected.
    pub ticket: Option<u64>,
    pub retcode: u32,
    /// The book (state file) this order was applied to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub book: Option<u64>,
    /// The order's number in that book (`orders_received` after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// What the order did to the book (absent when rejected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill: Option<LoggedFill>,
    /// The slippage the order allowed (`deviation`, points), as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deviation: Option<u32>,
}

/// The effect of a filled order, enough to apply it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedFill {
    pub order: u64,
    pub deal: u64,
    pub price: f64,
    pub sl: f64,
    pub tp: f64,
    pub magic: i64,
    /// Seconds.
    pub time: i64,
}

impl Engine {
    /// Applies the orders the log holds for this book beyond the saved book (the
    /// process ended between an order's log line and its book save), then saves.
    /// A torn last line (a write cut short) is cut off first.
    pub(super) fn replay_orders_log(&mut self, now_ms: i64) {
        let (Some(_), Some(log)) = (&self.cfg.state_file, &self.cfg.orders_log) else {
            return;
        };
        let Ok(mut text) = std::fs::read_to_string(log) else {
            return;
        };
        if !text.is_empty() && !text.ends_with('\n') {
            let keep = text.rfind('\n').map_or(0, |i| i + 1);
            text.truncate(keep);
            let cut = std::fs::OpenOptions::new()
                .write(true)
                .open(log)
                .and_then(|f| f.set_len(keep as u64));
            if let Err(e) = cut {
                tracing::warn!(error = %e, "could not cut the torn last line of the orders log");
            }
        }
        let mut replayed = 0;
        for line in text.lines() {
            let Ok(l) = serde_json::from_str::<OrderLogLine>(line) else {
                continue;
            };
            let (Some(book), Some(seq)) = (l.book, l.seq) else {
                continue;
            };
            if book != self.book.id || seq <= self.book.orders_received {
                continue;
            }
            self.book.orders_received = seq;
            if let Some(f) = &l.fill {
                self.apply_fill(&l.symbol, l.side == "buy", l.volume, &l.comment, f, now_ms);
            }
            replayed += 1;
        }
        if replayed > 0 {
            tracing::warn!(
                replayed,
                "orders applied from the orders log (the last run ended before saving them)"
            );
            self.save();
        }
    }

    /// Appends the order's line to the orders log: the order's commit record.
    pub(super) fn log_order(&self, line: &OrderLogLine) {
        let Some(path) = &self.cfg.orders_log else {
            return;
        };
        let mut text = serde_json::to_string(line).unwrap_or_default();
        text.push('\n');
        // One write of the whole line (O_APPEND): a kill cannot leave half of it.
        let res = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if let Err(e) = res {
            tracing::warn!(error = %e, "could not append to the orders log");
        }
    }

    pub(super) fn save(&self) {
        let Some(path) = &self.cfg.state_file else {
            return;
        };
        let tmp = path.with_extension("tmp");
        let res = serde_json::to_vec(&self.book)
            .map_err(std::io::Error::other)
            .and_then(|b| std::fs::write(&tmp, b))
            .and_then(|_| std::fs::rename(&tmp, path));
        if let Err(e) = res {
            tracing::warn!(error = %e, "could not write the paper state file");
        }
    }
}
