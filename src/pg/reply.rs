//! The reply decoders: what each kind of request makes of the messages
//! [`Connection::route`](crate::pg::Connection) hands it — asyncpg's `coreproto.pyx` result
//! handling. Each is a [`Reply`]; the router keeps everything that is not specific to one
//! request (ReadyForQuery, notices, COPY, FATAL) to itself.

use std::rc::Rc;

use crate::pg::error::{DbError, PgError};
use crate::pg::io::Reply;
use crate::pg::message::{rows_affected, Message};
use crate::pg::row::{parse_row_description, Column, Row};
use crate::pg::types::Type;

/// The reply to Parse + Describe + Sync.
#[derive(Default)]
pub(crate) struct Prepared {
    /// The parameter types from ParameterDescription; `None` until it arrives.
    pub(crate) param_types: Option<Vec<Type>>,
    /// The result columns from RowDescription (empty after NoData); `None` until either.
    pub(crate) columns: Option<Vec<Column>>,
    /// The first error; later ones only repeat that the statement does not exist.
    pub(crate) error: Option<DbError>,
}

impl Reply for Prepared {
    fn message(&mut self, message: Message) -> Result<(), PgError> {
        match message {
            Message::ParseComplete => {}
            Message::ParameterDescription { body } => self.param_types = Some(parse_parameter_description(body)?),
            Message::RowDescription { body } => self.columns = Some(parse_row_description(&body, false)?),
            Message::NoData => self.columns = Some(Vec::new()),
            other => return Err(unexpected(&other, "preparing a statement")),
        }
        Ok(())
    }

    fn error(&mut self, error: DbError) {
        self.error.get_or_insert(error);
    }
}

fn parse_parameter_description(mut body: bytes::Bytes) -> Result<Vec<Type>, PgError> {
    let count = crate::pg::message::get_i16(&mut body)?;
    (0..count).map(|_| crate::pg::message::get_i32(&mut body).map(|oid| Type(oid as u32))).collect()
}

pub(crate) fn unexpected(message: &Message, during: &str) -> PgError {
    PgError::protocol(format!("unexpected {message:?} while {during}"))
}

/// The reply to Bind + Execute + Sync.
pub(crate) struct Executed {
    /// The statement's columns, shared into every row.
    columns: Rc<[Column]>,
    /// False for `execute`, which wants only the count: rows are then not kept.
    keep_rows: bool,
    /// The rows so far, in arrival order; always empty when `keep_rows` is false.
    pub(crate) rows: Vec<Row>,
    /// The count from CommandComplete; 0 until it arrives.
    pub(crate) rows_affected: u64,
    /// The first error; the server skips the rest of the query after it.
    pub(crate) error: Option<DbError>,
}

impl Executed {
    pub(crate) fn new(columns: Rc<[Column]>, keep_rows: bool) -> Executed {
        Executed { columns, keep_rows, rows: Vec::new(), rows_affected: 0, error: None }
    }
}

impl Reply for Executed {
    fn message(&mut self, message: Message) -> Result<(), PgError> {
        match message {
            Message::BindComplete | Message::EmptyQueryResponse | Message::PortalSuspended => {}
            Message::DataRow { body } => {
                if self.keep_rows {
                    self.rows.push(Row::new(self.columns.clone(), body)?);
                }
            }
            Message::CommandComplete { tag } => self.rows_affected = rows_affected(&tag),
            other => return Err(unexpected(&other, "executing a statement")),
        }
        Ok(())
    }

    fn error(&mut self, error: DbError) {
        self.error.get_or_insert(error);
    }

    fn extended_protocol(&self) -> bool {
        true
    }
}

/// The reply to a simple Query: any number of result sets, all in text.
#[derive(Default)]
pub(crate) struct SimpleReply {
    /// The columns of the result set being read; `None` between result sets.
    columns: Option<Rc<[Column]>>,
    /// Every row of every result set, in order.
    pub(crate) rows: Vec<Row>,
    /// The first error (the server stops the script there).
    pub(crate) error: Option<DbError>,
}

impl Reply for SimpleReply {
    fn message(&mut self, message: Message) -> Result<(), PgError> {
        match message {
            Message::RowDescription { body } => self.columns = Some(Rc::from(parse_row_description(&body, true)?)),
            Message::DataRow { body } => {
                let columns = self.columns.clone().ok_or_else(|| PgError::protocol("DataRow before RowDescription"))?;
                self.rows.push(Row::new(columns, body)?);
            }
            Message::CommandComplete { .. } | Message::EmptyQueryResponse => self.columns = None,
            other => return Err(unexpected(&other, "running a simple query")),
        }
        Ok(())
    }

    fn error(&mut self, error: DbError) {
        self.error.get_or_insert(error);
    }
}
