//! The TechEmpower benchmark routes on rasgi, for the side-by-side comparison in
//! `benches/` (see `benches/harness/run.sh`).
//!
//! `DATABASE_URL=postgres://... cargo run --release --bin techempower -- --port 8080`
//!
//! Written with the app layer, as a FastAPI user would write it: the comparison is
//! framework against framework. The database routes share four connections per loop
//! (like the hyper peer's tokio-postgres clients); [`SharedConnection`] pipelines the
//! queries of concurrent requests on them as they arrive.

use std::cell::Cell;
use std::fmt::Write as _;
use std::rc::Rc;

use rasgi::app::{App, HttpException, Json, Request, Response};
use rasgi::pg::{Connection, SharedConnection, ToSql};
use rasgi_http::server::{self, Config, USAGE};
use serde::Serialize;

/// Database connections per loop unless `RASGI_DB_CONNECTIONS` says otherwise.
const CONNECTIONS: usize = 4;

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

/// A row of `World`, serialised as TechEmpower specifies (`randomNumber`).
#[derive(Serialize)]
struct World {
    id: i32,
    #[serde(rename = "randomNumber")]
    random_number: i32,
}

/// The loop's database connections, used round-robin.
struct Db {
    connections: Vec<SharedConnection>,
    next: Cell<usize>,
    rng: Cell<u64>,
}

impl Db {
    fn connection(&self) -> &SharedConnection {
        let i = self.next.get();
        self.next.set(i.wrapping_add(1));
        &self.connections[i % self.connections.len()]
    }

    /// A random World id in 1..=10000 (xorshift: quality is irrelevant here, speed is not).
    fn random_id(&self) -> i32 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        (x % 10_000) as i32 + 1
    }

    /// Reads `count` random rows, all queries batched together.
    async fn random_worlds(&self, count: usize) -> Result<Vec<World>, HttpException> {
        let pending: Vec<_> = (0..count)
            .map(|_| {
                let id: Box<dyn ToSql> = Box::new(self.random_id());
                self.connection().query("SELECT id, randomnumber FROM world WHERE id = $1", vec![id])
            })
            .collect();
        let mut worlds = Vec::with_capacity(count);
        for result in rasgi_executor::join_all(pending).await {
            let result = result.map_err(db_error)?;
            let row = result.rows.first().ok_or_else(|| HttpException::new(500, "world row missing"))?;
            worlds.push(World { id: row.get(0).map_err(db_error)?, random_number: row.get(1).map_err(db_error)? });
        }
        Ok(worlds)
    }
}

fn db_error(e: rasgi::pg::PgError) -> HttpException {
    rasgi_executor::log_error!("database: {e}");
    HttpException::new(500, format!("database error: {e}"))
}

fn db(req: &Request) -> Result<Rc<Db>, HttpException> {
    req.state::<Db>().ok_or_else(|| HttpException::new(503, "DATABASE_URL is not set"))
}

/// `?queries=N`, clamped to 1..=500 (anything unparsable is 1), per the rules.
fn query_count(req: &Request) -> usize {
    req.query_opt::<i64>("queries").ok().flatten().unwrap_or(1).clamp(1, 500) as usize
}

fn app() -> App {
    App::new()
        .on_startup(|state| async move {
            let Ok(url) = std::env::var("DATABASE_URL") else { return Ok(()) };
            let count = std::env::var("RASGI_DB_CONNECTIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(CONNECTIONS);
            let mut connections = Vec::with_capacity(count);
            for _ in 0..count.max(1) {
                let conn = Connection::connect(&url).await.map_err(|e| format!("DATABASE_URL: {e}"))?;
                connections.push(SharedConnection::new(conn));
            }
            state.insert(Db { connections, next: Cell::new(0), rng: Cell::new(0x9E37_79B9_7F4A_7C15) });
            Ok(())
        })
        .get("/plaintext", |_req: Request| async { Response::new(200, "text/plain", &b"Hello, World!"[..]) })
        .get("/json", |_req: Request| async { Json(Message { message: "Hello, World!" }) })
        .get("/db", |req: Request| async move {
            let db = db(&req)?;
            let mut worlds = db.random_worlds(1).await?;
            worlds.pop().map(Json).ok_or_else(|| HttpException::new(500, "world row missing"))
        })
        .get("/queries", |req: Request| async move {
            let db = db(&req)?;
            db.random_worlds(query_count(&req)).await.map(Json)
        })
        .get("/updates", |req: Request| async move {
            let db = db(&req)?;
            let mut worlds = db.random_worlds(query_count(&req)).await?;
            let pending: Vec<_> = worlds
                .iter_mut()
                .map(|world| {
                    world.random_number = db.random_id();
                    let params: Vec<Box<dyn ToSql>> = vec![Box::new(world.random_number), Box::new(world.id)];
                    db.connection().query("UPDATE world SET randomnumber = $1 WHERE id = $2", params)
                })
                .collect();
            for result in rasgi_executor::join_all(pending).await {
                result.map_err(db_error)?;
            }
            Ok::<_, HttpException>(Json(worlds))
        })
        .get("/fortunes", |req: Request| async move {
            let db = db(&req)?;
            let result =
                db.connection().query("SELECT id, message FROM fortune", Vec::new()).await.map_err(db_error)?;
            let mut fortunes: Vec<(i32, String)> = Vec::with_capacity(result.rows.len() + 1);
            for row in &result.rows {
                fortunes.push((row.get(0).map_err(db_error)?, row.get(1).map_err(db_error)?));
            }
            fortunes.push((0, "Additional fortune added at request time.".to_owned()));
            fortunes.sort_unstable_by(|a, b| a.1.cmp(&b.1));
            Ok::<_, HttpException>(Response::html(200, fortunes_page(&fortunes)))
        })
}

/// TechEmpower's fortunes template, filled by hand (no template engine, as in the peer).
fn fortunes_page(fortunes: &[(i32, String)]) -> String {
    let mut html = String::with_capacity(1536);
    html.push_str(
        "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>",
    );
    for (id, message) in fortunes {
        let _ = write!(html, "<tr><td>{id}</td><td>");
        for c in message.chars() {
            match c {
                '<' => html.push_str("&lt;"),
                '>' => html.push_str("&gt;"),
                '&' => html.push_str("&amp;"),
                '"' => html.push_str("&quot;"),
                '\'' => html.push_str("&#x27;"),
                c => html.push(c),
            }
        }
        html.push_str("</td></tr>");
    }
    html.push_str("</table></body></html>");
    html
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("Usage: techempower [OPTIONS]   (DATABASE_URL for the database routes)\n\n{USAGE}");
        return;
    }
    // Benchmarks measure the server, not the terminal: no access log unless asked for.
    if !args.iter().any(|a| a == "--access-log") {
        args.push("--no-access-log".into());
    }
    let config = match Config::from_args(args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = server::run(config, app) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
