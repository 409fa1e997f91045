//! Structured logs: one JSON object per line on stdout (tracing + tracing-subscriber's JSON
//! formatter). Lines are appended to an in-memory buffer that a writer thread drains every few
//! milliseconds, so no request waits for a `write(2)` to a terminal or a pipe, nor wakes a thread
//! per line. When the reader falls behind and the buffer is full, lines are dropped and counted
//! (`credrisk_log_lines_dropped_total`), never the requests.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;
use tracing_subscriber::fmt::MakeWriter;

/// Bytes of log lines that may wait for the writer thread.
const MAX_PENDING: usize = 8 << 20;
/// The writer wakes early when this much is pending.
const WAKE_AT: usize = 256 << 10;
/// Otherwise it drains the buffer this often.
const DRAIN_EVERY: Duration = Duration::from_millis(10);

struct Shared {
    pending: Mutex<Vec<u8>>,
    wake: Condvar,
    /// Held while a drained chunk is written, so chunks reach `out` in order.
    out: Mutex<Box<dyn Write + Send>>,
    dropped: AtomicU64,
}

/// The log's sending side, shared by every thread that logs.
#[derive(Clone)]
pub struct LogSink {
    shared: Arc<Shared>,
}

/// One event's writer: the formatter hands it the whole line in one `write`.
pub struct LineWriter<'a> {
    shared: &'a Shared,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LogSink {
    /// Starts the writer thread over `out`.
    pub fn spawn(out: Box<dyn Write + Send>) -> LogSink {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Vec::with_capacity(WAKE_AT)),
            wake: Condvar::new(),
            out: Mutex::new(out),
            dropped: AtomicU64::new(0),
        });
        let drain = Arc::clone(&shared);
        let started = std::thread::Builder::new().name("credrisk-log".into()).spawn(move || {
            loop {
                {
                    let pending = lock(&drain.pending);
                    if pending.is_empty() {
                        let _ = drain.wake.wait_timeout(pending, DRAIN_EVERY);
                    }
                }
                drain.write_pending();
            }
        });
        if let Err(e) = started {
            eprintln!("credrisk: cannot start the log writer: {e}");
        }
        LogSink { shared }
    }

    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Relaxed)
    }

    /// Writes and flushes everything pending, from the calling thread.
    pub fn flush(&self) {
        self.shared.write_pending();
    }
}

impl Shared {
    /// Takes the pending lines under the output lock (so a later chunk cannot overtake an
    /// earlier one) and writes them; write errors (a closed pipe) are ignored: logging must never
    /// stop the service.
    fn write_pending(&self) {
        let mut out = lock(&self.out);
        let chunk = std::mem::take(&mut *lock(&self.pending));
        if !chunk.is_empty() {
            let _ = out.write_all(&chunk);
            let _ = out.flush();
        }
    }

    fn push(&self, line: &[u8]) {
        let mut pending = lock(&self.pending);
        if pending.len() + line.len() > MAX_PENDING {
            self.dropped.fetch_add(1, Relaxed);
            return;
        }
        pending.extend_from_slice(line);
        if pending.len() >= WAKE_AT {
            self.wake.notify_one();
        }
    }
}

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> LineWriter<'a> {
        LineWriter { shared: &self.shared }
    }
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.shared.push(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static SINK: OnceLock<LogSink> = OnceLock::new();

/// Installs the JSON subscriber on stdout (once per process) and returns its sink.
pub fn init() -> &'static LogSink {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    SINK.get_or_init(|| {
        let sink = LogSink::spawn(Box::new(std::io::stdout()));
        // actix-server's own start-up lines ("starting service … listening on", "starting 2
        // workers") repeat ours; its warnings and errors still come through.
        let targets = tracing_subscriber::filter::Targets::new()
            .with_default(tracing::Level::INFO)
            .with_target("actix_server", tracing::Level::WARN);
        let installed = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_target(false)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(sink.clone())
            .finish()
            .with(targets)
            .try_init();
        if let Err(e) = installed {
            eprintln!("credrisk: structured logging not installed: {e}");
        }
        sink
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_arrive_whole_and_in_order() {
        let out = Captured::default();
        let sink = LogSink::spawn(Box::new(out.clone()));
        for i in 0..1000 {
            let mut w = sink.make_writer();
            w.write_all(format!("{{\"n\":{i}}}\n").as_bytes()).unwrap();
        }
        sink.flush();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let expected: String = (0..1000).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        assert_eq!(text, expected);
        assert_eq!(sink.dropped(), 0);
    }

    #[test]
    fn the_writer_thread_drains_without_a_flush() {
        let out = Captured::default();
        let sink = LogSink::spawn(Box::new(out.clone()));
        sink.make_writer().write_all(b"one line\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while out.0.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(String::from_utf8(out.0.lock().unwrap().clone()).unwrap(), "one line\n");
    }
}
