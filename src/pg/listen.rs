//! LISTEN/NOTIFY as an async stream — asyncpg's `add_listener`, and NOTIFY as a message bus
//! between server processes.
//!
//! A [`Listener`] owns a dedicated connection that does nothing but `LISTEN`. A notification
//! (NotificationResponse) may arrive at any moment, between any two messages, so the one
//! router collects them on every connection; here the connection is idle and
//! [`Listener::recv`] simply waits on the socket for the next one.
//!
//! When the connection is lost (the server restarted, an administrator terminated the
//! backend, the network failed), `recv` reconnects with a growing delay (50 ms doubling to
//! 5 s) and LISTENs again on every channel before it waits on. PostgreSQL does not keep
//! notifications for absent listeners: what was sent while we were away is gone.
//! [`Listener::reconnects`] counts the gaps, so an application that must not miss an event
//! can re-read its state after one — the same contract as asyncpg, which drops listeners
//! with their connection and leaves the re-subscribing to the application.

use std::time::Duration;

use rasgi_executor::{log_warn, sleep};

use crate::pg::config::Config;
use crate::pg::conn::{Connection, Notification};
use crate::pg::error::{DbError, PgError};
use crate::pg::io::Reply;
use crate::pg::message::Message;

/// The first wait before reconnecting; doubled after each failed attempt.
const FIRST_RETRY: Duration = Duration::from_millis(50);
/// The longest wait between attempts.
const LAST_RETRY: Duration = Duration::from_secs(5);

/// A stream of notifications on a dedicated connection; see the module docs.
pub struct Listener {
    /// How to (re)connect.
    config: Config,
    /// Every channel `listen` was asked for, LISTENed again after a reconnect.
    channels: Vec<String>,
    /// The connection, `None` between losing one and opening the next.
    conn: Option<Connection>,
    /// How many times the connection was lost and replaced.
    reconnects: u64,
}

impl Listener {
    /// Opens the dedicated connection.
    pub async fn connect(config: Config) -> Result<Listener, PgError> {
        let conn = Connection::connect_with(&config).await?;
        Ok(Listener { config, channels: Vec::new(), conn: Some(conn), reconnects: 0 })
    }

    /// `LISTEN channel` (any name: it is quoted as an identifier), now and after every
    /// reconnect.
    pub async fn listen(&mut self, channel: &str) -> Result<(), PgError> {
        if !self.channels.iter().any(|c| c == channel) {
            self.channels.push(channel.to_string());
        }
        let conn = self.connection().await?;
        conn.execute_script(&format!("LISTEN {}", quote_identifier(channel))).await.map(drop)
    }

    /// `UNLISTEN channel`.
    pub async fn unlisten(&mut self, channel: &str) -> Result<(), PgError> {
        self.channels.retain(|c| c != channel);
        let conn = self.connection().await?;
        conn.execute_script(&format!("UNLISTEN {}", quote_identifier(channel))).await.map(drop)
    }

    /// How many times the connection was lost and replaced (notifications sent meanwhile
    /// are lost).
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    /// The server process of the current connection (it changes with each reconnect).
    pub fn backend_pid(&self) -> Option<i32> {
        self.conn.as_ref().and_then(Connection::backend_pid)
    }

    /// The next notification, in the order the server sent them. Waits as long as it takes,
    /// reconnecting as needed; an error is returned only for what reconnecting cannot fix
    /// (the settings are wrong, the server refuses a LISTEN).
    pub async fn recv(&mut self) -> Result<Notification, PgError> {
        loop {
            let conn = self.connection().await?;
            if !conn.notifications.is_empty() {
                return Ok(conn.notifications.remove(0));
            }
            if let Err(e) = wait_for_notification(conn).await {
                log_warn!("postgres listener: the connection was lost ({e}); reconnecting");
                self.conn = None;
            }
        }
    }

    /// The connection, replaced first if it was lost.
    async fn connection(&mut self) -> Result<&mut Connection, PgError> {
        let usable = matches!(&self.conn, Some(conn) if !conn.is_closed());
        if !usable {
            self.conn = None;
            self.reconnect().await?;
        }
        self.conn.as_mut().ok_or_else(|| PgError::Closed("the listener has no connection".to_string()))
    }

    /// Opens a new connection and LISTENs on every channel again, retrying with a growing
    /// delay while the server cannot be reached. Wrong settings and a refused LISTEN are
    /// returned at once: waiting would not fix them.
    async fn reconnect(&mut self) -> Result<(), PgError> {
        let mut delay = FIRST_RETRY;
        loop {
            sleep(delay).await;
            match self.open().await {
                Ok(conn) => {
                    self.reconnects += 1;
                    self.conn = Some(conn);
                    return Ok(());
                }
                // A server starting up or shutting down (SQLSTATE class 57, "operator
                // intervention") is worth waiting for; other refusals are not.
                Err(PgError::Server(e)) if !e.code.starts_with("57") => return Err(PgError::Server(e)),
                Err(e @ (PgError::Config(_) | PgError::Tls(_) | PgError::Auth(_))) => return Err(e),
                Err(e) => {
                    delay = (delay * 2).min(LAST_RETRY);
                    log_warn!("postgres listener: reconnecting failed ({e}); next try in {delay:?}");
                }
            }
        }
    }

    async fn open(&self) -> Result<Connection, PgError> {
        let mut conn = Connection::connect_with(&self.config).await?;
        for channel in &self.channels {
            conn.execute_script(&format!("LISTEN {}", quote_identifier(channel))).await?;
        }
        Ok(conn)
    }
}

/// Waits on an idle connection until at least one notification has arrived. An error means
/// the connection is gone.
async fn wait_for_notification(conn: &mut Connection) -> Result<(), PgError> {
    let mut idle = IdleListen::default();
    std::future::poll_fn(|cx| loop {
        let message = match conn.poll_message(cx) {
            std::task::Poll::Ready(Ok(message)) => message,
            std::task::Poll::Ready(Err(e)) => return std::task::Poll::Ready(Err(conn.explain_hangup(e))),
            std::task::Poll::Pending => return std::task::Poll::Pending,
        };
        if let Err(e) = conn.route(message, &mut idle) {
            return std::task::Poll::Ready(Err(conn.fail(e)));
        }
        if let Some(error) = idle.error.take() {
            return std::task::Poll::Ready(Err(conn.fail(PgError::Server(Box::new(error)))));
        }
        if !conn.notifications.is_empty() {
            return std::task::Poll::Ready(Ok(()));
        }
    })
    .await
}

/// The "request" of a listening connection: only asynchronous messages may arrive.
#[derive(Default)]
struct IdleListen {
    /// An error the server sent (a FATAL before it hangs up).
    error: Option<DbError>,
}

impl Reply for IdleListen {
    fn message(&mut self, _: Message) -> Result<(), PgError> {
        Err(PgError::protocol("a reply arrived on a listening connection"))
    }

    fn error(&mut self, error: DbError) {
        self.error = Some(error);
    }
}

/// `"name"`, with inner quotes doubled: any string is a valid channel name this way.
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
