//! Property fuzzing of the bridge protocol line decoder
//! (`companion_terminal::bridge::codec::FrameDecoder` and `wire::Message`), through
//! its public API: bytes in any chunking, garbage between messages, over-long lines.
//!
//! Short by default; `FUZZ_CASES=200000 cargo test -p companion-chaos --release
//! --test fuzz_bridge_decoder` (or `make fuzz-long`) for a long run.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

use companion_terminal::bridge::codec::{FrameDecoder, FrameError};
use companion_terminal::bridge::wire::{
    Hello, HelloRefusal, HelloTerminal, Message, Reply, Request,
};
use proptest::prelude::*;
use serde_json::{json, Value};

fn config() -> ProptestConfig {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Feeds `chunks` one by one and drains every decoded item after each.
fn decode_chunks(max: usize, chunks: &[Vec<u8>]) -> Vec<Result<Message, FrameError>> {
    let mut d = FrameDecoder::new(max);
    let mut out = Vec::new();
    for c in chunks {
        d.feed(c);
        while let Some(m) = d.next_message() {
            out.push(m);
        }
    }
    out
}

/// A message's JSON with floats compared to 12 significant digits (serde_json without
/// `float_roundtrip` may move the last bit of a parsed float) and `"result": null`
/// treated as absent (an `ok` reply with a null result decodes as no result).
fn canon(m: &Message) -> Value {
    fn walk(v: Value) -> Value {
        match v {
            Value::Number(n) if n.is_f64() => {
                Value::String(format!("{:.11e}", n.as_f64().unwrap_or_default()))
            }
            Value::Array(a) => Value::Array(a.into_iter().map(walk).collect()),
            Value::Object(o) => Value::Object(
                o.into_iter()
                    .filter(|(k, v)| !(k == "result" && v.is_null()))
                    .map(|(k, v)| (k, walk(v)))
                    .collect(),
            ),
            other => other,
        }
    }
    walk(m.to_value())
}

fn split_at_points(bytes: &[u8], points: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = points.iter().map(|p| p % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut chunks = Vec::new();
    let mut start = 0;
    for c in cuts {
        chunks.push(bytes[start..c].to_vec());
        start = c;
    }
    chunks.push(bytes[start..].to_vec());
    chunks
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,24}",
        "[a-z_]{0,12}",
        Just("cj0123456789abcdef0123456789a".to_string())
    ]
}

fn json_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(|f| json!(f)),
        text().prop_map(Value::String),
    ]
}

fn json_args() -> impl Strategy<Value = Value> {
    json_scalar().prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (
            text(),
            any::<u32>(),
            text(),
            text(),
            text(),
            any::<i64>(),
            any::<bool>()
        )
            .prop_map(
                |(token, protocol_version, login, server, company, build, paper)| {
                    Message::Hello(Hello {
                        token,
                        protocol_version,
                        terminal: HelloTerminal {
                            login,
                            server,
                            company,
                            build,
                            paper,
                            ..Default::default()
                        },
                    })
                }
            ),
        (any::<u32>(), any::<u64>()).prop_map(|(protocol_version, heartbeat_ms)| {
            Message::HelloOk {
                protocol_version,
                heartbeat_ms,
            }
        }),
        (
            prop::sample::select(vec![
                HelloRefusal::BadToken,
                HelloRefusal::UnsupportedVersion,
                HelloRefusal::BadHello
            ]),
            text()
        )
            .prop_map(|(code, message)| Message::HelloError { code, message }),
        any::<i64>().prop_map(|time| Message::Heartbeat { time }),
        (any::<u64>(), text(), json_args()).prop_map(|(id, cmd, args)| Message::Request(Request {
            id,
            cmd,
            args
        })),
        (any::<u64>(), json_args()).prop_map(|(id, r)| Message::Reply(Reply::ok(id, r))),
        (any::<u64>(), any::<u32>(), text())
            .prop_map(|(id, code, m)| Message::Reply(Reply::err(id, code, m))),
    ]
}

/// A line that is not a bridge message (no newline inside).
fn garbage_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(
            any::<u8>().prop_filter("no newline", |b| *b != b'\n'),
            1..64
        ),
        Just(b"{\"type\":\"nope\"}".to_vec()),
        Just(b"{\"ok\":false,\"id\":1}".to_vec()),
        Just(b"{\"id\":-1,\"cmd\":3}".to_vec()),
        Just(b"[1,2,3]".to_vec()),
        Just(b"{\"type\":7}".to_vec()),
        Just(vec![0xff, 0xfe, b'{']),
    ]
    .prop_filter("not blank", |l| {
        !String::from_utf8_lossy(l).trim().is_empty()
    })
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes in arbitrary chunks: never panics, and the chunking does
    /// not change what comes out.
    #[test]
    fn arbitrary_bytes_any_chunking(
        bytes in prop::collection::vec(prop_oneof![8 => any::<u8>(), 1 => Just(b'\n')], 0..600),
        points in prop::collection::vec(any::<usize>(), 0..12),
        max in prop::sample::select(vec![16usize, 64, 4096]),
    ) {
        let whole = decode_chunks(max, std::slice::from_ref(&bytes));
        let chunked = decode_chunks(max, &split_at_points(&bytes, &points));
        prop_assert_eq!(whole, chunked);
    }

    /// Every message survives encode → decode, in any chunking.
    #[test]
    fn messages_round_trip(msgs in prop::collection::vec(message(), 1..8),
                           points in prop::collection::vec(any::<usize>(), 0..12)) {
        let bytes: Vec<u8> = msgs.iter().flat_map(|m| m.to_line().into_bytes()).collect();
        let out = decode_chunks(usize::MAX / 2, &split_at_points(&bytes, &points));
        let out: Vec<Value> = out.iter().map(|r| canon(r.as_ref().expect("a valid line decodes"))).collect();
        let expected: Vec<Value> = msgs.iter().map(canon).collect();
        prop_assert_eq!(out, expected);
    }

    /// Garbage never wedges the stream: each bad line gives one error, and the good
    /// messages around it still come out, in order. Over-long lines are skipped.
    #[test]
    fn garbage_and_long_lines_do_not_wedge(
        items in prop::collection::vec(prop_oneof![
            3 => message().prop_map(Ok),
            1 => garbage_line().prop_map(|g| Err(Some(g))),
            1 => Just(Err(None)), // an over-long line
        ], 1..12),
        points in prop::collection::vec(any::<usize>(), 0..16),
        crlf in any::<bool>(),
    ) {
        let max = 2048;
        let mut bytes = Vec::new();
        for it in &items {
            match it {
                Ok(m) => bytes.extend(m.to_line().into_bytes()),
                Err(Some(g)) => { bytes.extend(g); bytes.push(b'\n'); }
                Err(None) => { bytes.extend(std::iter::repeat_n(b'x', max + 10)); bytes.push(b'\n'); }
            }
            if crlf { bytes.push(b'\r'); bytes.push(b'\n'); }
        }
        let out = decode_chunks(max, &split_at_points(&bytes, &points));
        let expected_ok: Vec<Value> = items.iter().filter_map(|i| i.as_ref().ok()).map(canon).collect();
        let got_ok: Vec<Value> = out.iter().filter_map(|r| r.as_ref().ok()).map(canon).collect();
        prop_assert_eq!(got_ok, expected_ok);
        prop_assert_eq!(out.len(), items.len(), "one item per non-blank line: {:?}", out);
        for (o, i) in out.iter().zip(&items) {
            match (o, i) {
                (Err(FrameError::TooLong(_)), Err(None)) => {}
                (Err(_), Err(Some(_))) => {}
                (Ok(_), Ok(_)) => {}
                other => prop_assert!(false, "mismatch {:?}", other),
            }
        }
    }

    /// `Message::parse` on any JSON value: never panics; accepted values re-encode
    /// to something that parses to the same message.
    #[test]
    fn any_json_value(v in prop_oneof![
        json_args(),
        (prop::sample::select(vec!["hello", "hello_ok", "hello_error", "heartbeat", "x"]), json_args())
            .prop_map(|(t, a)| { let mut o = match a { Value::Object(o) => o, _ => Default::default() }; o.insert("type".into(), json!(t)); Value::Object(o) }),
        (any::<bool>(), json_args()).prop_map(|(ok, a)| { let mut o = match a { Value::Object(o) => o, _ => Default::default() }; o.insert("ok".into(), json!(ok)); o.insert("id".into(), json!(1)); Value::Object(o) }),
    ]) {
        if let Ok(m) = Message::parse(&v.to_string()) {
            prop_assert_eq!(canon(&Message::parse(m.to_line().trim_end()).expect("re-parse")), canon(&m));
        }
    }
}
