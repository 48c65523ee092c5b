//! The Postgres wire client (asyncpg's role).
