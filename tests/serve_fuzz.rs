//! Bounded malformed-input fuzzing of `credrisk serve` over real sockets: random bytes, every
//! truncation of a valid body, byte mutations, huge and non-finite numbers, deep nesting, wrong
//! content types, oversized and chunked bodies, and non-HTTP garbage. Every answer must be a JSON
//! 4xx (or a 200 for a mutation that stayed valid), never a 5xx, and the server must still answer
//! `/health` afterwards. Seeded, bounded in count and in time.

mod serve_support;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use serve_support::{Fixture, Server, get, raw, raw_post, seed_customer};
use std::time::{Duration, Instant};

/// The whole fuzz run stops after this long, whatever is left.
const BUDGET: Duration = Duration::from_secs(120);

struct Tally {
    started: Instant,
    sent: usize,
}

impl Tally {
    fn in_budget(&self) -> bool {
        self.started.elapsed() < BUDGET
    }
}

/// Sends one body and checks the answer is one of `allowed`, and a JSON error when not 200.
fn check(server: &Server, t: &mut Tally, path: &str, ct: Option<&str>, body: &[u8], allowed: &[u16]) -> u16 {
    t.sent += 1;
    let (status, text) = raw_post(server.addr, path, ct, body);
    let shown = String::from_utf8_lossy(&body[..body.len().min(200)]).to_string();
    assert!(allowed.contains(&status), "{path} {ct:?} {shown:?} → {status} {text}");
    if status != 200 {
        let v: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} not JSON ({e}): {text}"));
        assert!(v["error"].is_string() && v["message"].is_string() && v["details"].is_array(), "{text}");
    }
    status
}

const JSON: Option<&str> = Some("application/json");

#[test]
fn malformed_input_never_crashes_or_5xxs_the_server() {
    let fx = Fixture::train();
    let server = Server::start(fx.model(), &["--body-limit", "262144"]);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut t = Tally { started: Instant::now(), sent: 0 };
    let valid = json!({"customer": seed_customer(), "include_explanation": true}).to_string();
    let paths = ["/predict", "/explain", "/predict/batch"];

    // Random bytes: never JSON with the right shape.
    for i in 0..500 {
        let len = rng.random_range(0..400);
        let body: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        check(&server, &mut t, paths[i % 3], JSON, &body, &[400, 422]);
    }
    // Every truncation of a valid body is malformed JSON.
    for cut in 0..valid.len() {
        if !t.in_budget() {
            break;
        }
        check(&server, &mut t, "/predict", JSON, &valid.as_bytes()[..cut], &[400]);
    }
    // Byte mutations: whatever survives parsing must be validated, never crash.
    for i in 0..2000 {
        if !t.in_budget() {
            break;
        }
        let mut body = valid.as_bytes().to_vec();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..body.len());
            match rng.random_range(0..3) {
                0 => body[at] = rng.random(),
                1 => {
                    body.remove(at);
                }
                _ => body.insert(at, b"{}[]\",:0-e.9tfn\\"[rng.random_range(0..16)]),
            }
        }
        check(&server, &mut t, paths[i % 2], JSON, &body, &[200, 400, 422]);
    }
    // Numbers: beyond f64, huge, non-finite tokens, negative zero.
    let with_income = |raw_number: &str| {
        valid.replacen("\"income\":800000", &format!("\"income\":{raw_number}"), 1).into_bytes()
    };
    assert!(valid.contains("\"income\":800000"), "{valid}");
    for (number, allowed) in [
        ("1e400", &[400][..]),
        ("-1e400", &[400]),
        ("1e300", &[422]),
        ("123456789012345678901234567890", &[422]),
        ("-0", &[200]),
        ("NaN", &[400]),
        ("Infinity", &[400]),
        ("-Infinity", &[400]),
        ("nan", &[400]),
        ("0x10", &[400]),
        ("1.", &[400]),
        ("+1", &[400]),
        ("true", &[422]),
        ("null", &[422]),
        ("\"800000\"", &[422]),
    ] {
        check(&server, &mut t, "/predict", JSON, &with_income(number), allowed);
    }
    let with_age = |n: &str| valid.replacen("\"age\":45", &format!("\"age\":{n}"), 1).into_bytes();
    for (n, allowed) in
        [("1e20", &[422][..]), ("45.5", &[422]), ("45.0", &[200]), ("4.5e1", &[200]), ("-45", &[422])]
    {
        check(&server, &mut t, "/predict", JSON, &with_age(n), allowed);
    }
    // Deep nesting, at the top and inside the customer.
    for deep in
        ["[".repeat(100_000), "{\"a\":".repeat(20_000), format!("{{\"customer\":{}", "[".repeat(60_000))]
    {
        check(&server, &mut t, "/predict", JSON, deep.as_bytes(), &[400, 413]);
    }
    let nested_ok = format!("{{\"customer\":{}1{}}}", "[".repeat(100), "]".repeat(100));
    check(&server, &mut t, "/predict", JSON, nested_ok.as_bytes(), &[422]);
    // Content types.
    let body = json!({"customer": seed_customer()}).to_string();
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/json; charset=latin1",
        "json",
        "",
        "application/jsonx",
    ] {
        check(&server, &mut t, "/predict", Some(ct), body.as_bytes(), &[415]);
    }
    for ct in ["application/json", "APPLICATION/JSON; charset=\"UTF-8\"", "application/problem+json"] {
        check(&server, &mut t, "/predict", Some(ct), body.as_bytes(), &[200]);
    }
    // Oversized bodies: declared, and streamed in chunks without a length.
    let huge = format!("{{\"customer\":{},\"pad\":\"{}\"}}", seed_customer(), "x".repeat(3 << 20));
    check(&server, &mut t, "/predict", JSON, huge.as_bytes(), &[413]);
    let mut chunked = b"POST /predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..100 {
        chunked.extend_from_slice(format!("{:x}\r\n{}\r\n", 4096, "x".repeat(4096)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (status, _) = raw(server.addr, &chunked);
    assert_eq!(status, 413, "a chunked body over the limit");
    // Not HTTP at all, or broken HTTP: the connection is refused or answered 4xx, nothing else.
    for _ in 0..30 {
        let len = rng.random_range(1..300);
        let garbage: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let (status, _) = raw(server.addr, &garbage);
        assert!(status == 0 || (400..500).contains(&status), "garbage → {status}");
    }
    for request in [
        &b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n{}"[..],
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"GET /health HTTP/9.9\r\n\r\n",
        b"GET /no-such-page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ] {
        let (status, _) = raw(server.addr, request);
        assert!(
            status == 0 || (400..500).contains(&status),
            "{:?} → {status}",
            String::from_utf8_lossy(request)
        );
    }

    let health = get(&server, "/health");
    assert_eq!(health.status, 200, "the server still answers after {} requests", t.sent);
    let metrics = get(&server, "/metrics").body;
    assert!(!metrics.lines().any(|l| l.contains("status=\"5")), "no 5xx was ever answered:\n{metrics}");
    assert!(t.sent > 500, "only {} requests sent in the time budget", t.sent);
}
