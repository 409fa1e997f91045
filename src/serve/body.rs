//! The middleware that bounds how long a request body may take to arrive, on every endpoint: a
//! body still incomplete after `--body-timeout` fails its reader with a timeout (`/predict` and
//! the others answer 408 `request_timeout`), and a body that was not read to its end — timed out,
//! too large, or never wanted (a GET with a body) — ends the connection after the answer.
//! Without this a stalled client held its connection (and a file descriptor) for minutes.

use super::state::State;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{Error, HttpMessage};
use futures_core::Stream;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

/// How long the receiver of a body left unread outlives the answer (which leaves at once).
const UNREAD_BODY_HELD: Duration = Duration::from_secs(2);

/// Whether an error from reading a body is this middleware's timeout.
pub fn is_timeout(e: &Error) -> bool {
    matches!(e.as_error::<PayloadError>(), Some(PayloadError::Io(io)) if io.kind() == std::io::ErrorKind::TimedOut)
}

pub async fn bound_body(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req.headers().get(header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0");
    let timeout = req.app_data::<web::Data<State>>().map(|s| s.body_timeout);
    let (true, Some(timeout)) = (has_body, timeout) else {
        return next.call(req).await;
    };
    let inner = Rc::new(RefCell::new(req.take_payload()));
    let finished = Rc::new(Cell::new(false));
    let bounded = Bounded {
        inner: Rc::clone(&inner),
        finished: Rc::clone(&finished),
        deadline: actix_web::rt::time::Instant::now() + timeout,
        timer: None,
        timeout,
        timed_out: false,
    };
    req.set_payload(Payload::from(Box::pin(bounded) as Pin<Box<dyn Stream<Item = _>>>));
    let response = next.call(req).await;
    if !finished.get() {
        // Alive while the answer is sent, the receiver makes actix close the connection after
        // it; dropped now, actix would drain a chunked body instead, waiting with no timer for a
        // client that may never send the rest.
        actix_web::rt::spawn(async move {
            actix_web::rt::time::sleep(UNREAD_BODY_HELD).await;
            drop(inner);
        });
    }
    response
}

/// The request's body as its handler reads it: the real one, until the deadline.
struct Bounded {
    inner: Rc<RefCell<Payload>>,
    finished: Rc<Cell<bool>>,
    deadline: actix_web::rt::time::Instant,
    /// Armed the first time the body is not all there (most bodies arrive with their headers).
    timer: Option<Pin<Box<actix_web::rt::time::Sleep>>>,
    timeout: Duration,
    timed_out: bool,
}

impl Stream for Bounded {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.timed_out {
            return Poll::Ready(None);
        }
        // What has arrived is handed over even at the deadline.
        let next = Pin::new(&mut *self.inner.borrow_mut()).poll_next(cx);
        match next {
            Poll::Ready(None) => {
                self.finished.set(true);
                Poll::Ready(None)
            }
            Poll::Ready(Some(chunk)) => Poll::Ready(Some(chunk)),
            Poll::Pending => {
                let deadline = self.deadline;
                let timer =
                    self.timer.get_or_insert_with(|| Box::pin(actix_web::rt::time::sleep_until(deadline)));
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.timed_out = true;
                let message =
                    format!("the request body did not arrive within {} s", self.timeout.as_secs_f64());
                let e = std::io::Error::new(std::io::ErrorKind::TimedOut, message);
                Poll::Ready(Some(Err(PayloadError::Io(e))))
            }
        }
    }
}
