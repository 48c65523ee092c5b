//! Query timeouts and cancellation — asyncpg's `command_timeout` / `timeout=` and
//! `Connection._cancel` (which also opens a fresh connection to send the request).
//!
//! A running query cannot be stopped through its own connection: the server reads nothing
//! from it until the query ends. PostgreSQL's answer is the CancelRequest, sent on a **new**
//! connection instead of a StartupMessage:
//!
//! ```text
//! i32 length = 16 | i32 code = 80877102 | i32 process id | i32 secret key
//! ```
//!
//! (the id and key came in BackendKeyData at startup). The postmaster signals the backend and
//! closes the socket without a reply. The backend, if still busy with our query, aborts it
//! with SQLSTATE 57014 ("canceling statement due to user request") and, as after any error,
//! goes on to ReadyForQuery. So a timeout here is three bounded steps:
//!
//! 1. the round trip's future is dropped when the deadline passes (`Connection::run`);
//! 2. a CancelRequest is delivered, within `cancel_timeout`;
//! 3. the cancelled query's reply is drained to ReadyForQuery, within `cancel_timeout` again;
//!    if the server does not come back even then, the connection is closed rather than left
//!    in an unknown state.
//!
//! A cancel is inherently racy: the query may finish just before the signal lands, and the
//! signal then hits an idle backend, which ignores it. Waiting for the postmaster to close the
//! cancel socket before draining (step 2) means the signal has been sent by the time the next
//! query can start, so it never cancels the *next* query.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use postgres_protocol::message::frontend;
use rasgi_executor::reactor::net::TcpStream;
use rasgi_executor::{log_warn, timeout};

use crate::pg::conn::{BackendKey, Connection};
use crate::pg::error::PgError;
use crate::pg::io::{Drain, RoundTrip};

/// Asks the server at `addr` to cancel whatever the backend identified by `key` is running,
/// and waits until the server has taken the request (it closes the socket).
pub async fn cancel_query(addr: SocketAddr, key: BackendKey) -> Result<(), PgError> {
    let stream = TcpStream::connect(addr).await?;
    let mut request = BytesMut::with_capacity(16);
    frontend::cancel_request(key.process_id, key.secret_key, &mut request);
    stream.write_all(&request).await?;
    // The postmaster answers nothing and closes; end of stream means "signal sent".
    let mut scratch = [0u8; 64];
    while stream.read(&mut scratch).await? > 0 {}
    Ok(())
}

/// [`cancel_query`] bounded by `limit`; failures are logged, never returned: a cancel is
/// best effort, and whoever called it is already on an error path.
pub(crate) async fn cancel_bounded(addr: SocketAddr, key: BackendKey, limit: Duration) {
    match timeout(limit, cancel_query(addr, key)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log_warn!("postgres: could not cancel the query of backend {}: {e}", key.process_id),
        Err(_) => {
            log_warn!("postgres: cancelling the query of backend {} took over {limit:?}; gave up", key.process_id)
        }
    }
}

impl Connection {
    /// Sends a CancelRequest for this connection's backend, bounded by `cancel_timeout`.
    pub(crate) async fn send_cancel(&mut self) {
        if let Some(key) = self.backend_key {
            cancel_bounded(self.addr, key, self.config.cancel_timeout).await;
        }
    }

    /// Steps 2 and 3 of a timeout (see the module docs); returns the error for the caller.
    pub(crate) async fn cancel_after_timeout(&mut self) -> PgError {
        let after = self.query_timeout.unwrap_or_default();
        self.deadline = None;
        self.send_cancel().await;
        let limit = self.config.cancel_timeout;
        match timeout(limit, RoundTrip::new(self, Drain::default())).await {
            Ok(Ok(drained)) => {
                let cancelled = drained.errors.iter().any(|e| e.code == "57014");
                PgError::Timeout { after, cancelled }
            }
            Ok(Err(e)) => e,
            Err(_) => {
                let _ = self.fail(PgError::Closed(format!(
                    "the server did not answer within {limit:?} after its query was cancelled"
                )));
                self.shutdown_socket();
                PgError::Timeout { after, cancelled: false }
            }
        }
    }
}
