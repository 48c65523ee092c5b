//! The FastAPI-like app layer through a real server socket: routing, path and query
//! conversion, JSON bodies, FastAPI's 404/405/413/422/500 bodies, `call_next`
//! middleware order, lifespan hooks and state, panics, streaming.

mod app_support;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use app_support::{get, request};
use rasgi::app::{App, HttpException, Json, Next, Request, Response};
use rasgi_http::server::{self, Config, ServerHandle};
use serde::Deserialize;
use serde_json::{json, Value};

fn serve(make_app: impl Fn() -> App + Send + Sync + 'static) -> ServerHandle {
    let config = Config { port: 0, handle_signals: false, access_log: false, ..Config::default() };
    server::start(config, make_app).expect("server starts")
}

fn json_body(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"))
}

#[derive(Deserialize)]
struct Item {
    name: String,
    price: f64,
    tags: Option<Vec<String>>,
}

fn items_app() -> App {
    App::new()
        .get("/items/{item_id}", |req: Request| async move {
            let item_id: u32 = req.path_param("item_id")?;
            let q: Option<String> = req.query_opt("q")?;
            let limit: u8 = req.query_opt("limit")?.unwrap_or(10);
            Ok::<_, HttpException>(Json(json!({ "item_id": item_id, "q": q, "limit": limit })))
        })
        .put("/items/{item_id}", |req: Request| async move {
            let item: Item = req.json()?;
            Ok::<_, HttpException>(Json(json!({ "name": item.name, "price": item.price, "tags": item.tags })))
        })
        .get("/users/{user}/files/{file}", |req: Request| async move {
            let user: String = req.path_param("user")?;
            let file: String = req.path_param("file")?;
            Ok::<_, HttpException>(format!("{user}:{file}"))
        })
        .get("/search", |req: Request| async move {
            let term: String = req.query("term")?;
            Ok::<_, HttpException>(Json(json!({ "term": term })))
        })
        .get("/teapot", |_req: Request| async { Err::<String, _>(HttpException::new(418, "I'm a teapot")) })
        .get("/panic", |_req: Request| async {
            panic!("handler bug");
            #[allow(unreachable_code)]
            "unreachable"
        })
        .get("/html", |_req: Request| async { rasgi::app::Html("<h1>hi</h1>") })
        .get("/stream", |_req: Request| async {
            Response::stream(200, "text/plain", |tx| async move {
                for piece in ["a", "b", "c"] {
                    let _ = tx.send(piece.as_bytes().to_vec()).await;
                }
            })
        })
        .max_body(64)
}

#[test]
fn path_and_query_parameters_convert_to_their_types() {
    let server = serve(items_app);
    let addr = server.local_addr();

    let reply = get(addr, "/items/42?q=hello+world&limit=3");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(json_body(&reply.body), json!({"item_id": 42, "q": "hello world", "limit": 3}));

    let reply = get(addr, "/items/7");
    assert_eq!(json_body(&reply.body), json!({"item_id": 7, "q": null, "limit": 10}));

    let reply = get(addr, "/users/ann/files/a%20b.txt");
    assert_eq!((reply.status, reply.body.as_str()), (200, "ann:a b.txt"));

    let reply = get(addr, "/items/forty-two");
    assert_eq!(reply.status, 422);
    assert_eq!(
        json_body(&reply.body),
        json!({"detail": [{"type": "parsing", "loc": ["path", "item_id"],
            "msg": "Input should be a valid u32: invalid digit found in string", "input": "forty-two"}]})
    );

    let reply = get(addr, "/items/1?limit=300");
    assert_eq!(reply.status, 422);
    assert_eq!(json_body(&reply.body)["detail"][0]["loc"], json!(["query", "limit"]));

    let reply = get(addr, "/search");
    assert_eq!(reply.status, 422);
    assert_eq!(
        json_body(&reply.body),
        json!({"detail": [{"type": "missing", "loc": ["query", "term"], "msg": "Field required", "input": null}]})
    );
    server.shutdown();
    server.join().unwrap();
}

#[test]
fn json_bodies_validate_with_field_locations() {
    let server = serve(items_app);
    let addr = server.local_addr();

    let reply = request(addr, "PUT", "/items/1", Some(r#"{"name":"Hammer","price":9.5,"tags":["tools"]}"#));
    assert_eq!(reply.status, 200);
    assert_eq!(json_body(&reply.body), json!({"name": "Hammer", "price": 9.5, "tags": ["tools"]}));

    let reply = request(addr, "PUT", "/items/1", Some(r#"{"price":9.5}"#));
    assert_eq!(reply.status, 422);
    assert_eq!(json_body(&reply.body)["detail"][0]["loc"], json!(["body", "name"]));
    assert_eq!(json_body(&reply.body)["detail"][0]["msg"], json!("Field required"));

    let reply = request(addr, "PUT", "/items/1", Some(r#"{"name":"x","price":"cheap"}"#));
    assert_eq!(reply.status, 422);
    assert_eq!(json_body(&reply.body)["detail"][0]["loc"], json!(["body", "price"]));

    let reply = request(addr, "PUT", "/items/1", Some(r#"{"name":"x","price":1,"tags":["a",2]}"#));
    assert_eq!(json_body(&reply.body)["detail"][0]["loc"], json!(["body", "tags", 1]));

    let reply = request(addr, "PUT", "/items/1", Some(r#"{"name": "#));
    assert_eq!(reply.status, 422);
    assert_eq!(json_body(&reply.body)["detail"][0]["type"], json!("json_invalid"));

    let reply = request(addr, "PUT", "/items/1", Some(&format!(r#"{{"name":"{}","price":1}}"#, "x".repeat(100))));
    assert_eq!(reply.status, 413);
    assert_eq!(json_body(&reply.body), json!({"detail": "Request body too large"}));
    server.shutdown();
    server.join().unwrap();
}

#[test]
fn fastapi_error_bodies() {
    let server = serve(items_app);
    let addr = server.local_addr();

    let reply = get(addr, "/nowhere");
    assert_eq!((reply.status, json_body(&reply.body)), (404, json!({"detail": "Not Found"})));

    let reply = request(addr, "DELETE", "/items/1", None);
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, PUT"));
    assert_eq!(json_body(&reply.body), json!({"detail": "Method Not Allowed"}));

    let reply = get(addr, "/teapot");
    assert_eq!((reply.status, json_body(&reply.body)), (418, json!({"detail": "I'm a teapot"})));

    // A panic is a 500 in FastAPI's shape, and the server goes on serving.
    let reply = get(addr, "/panic");
    assert_eq!((reply.status, json_body(&reply.body)), (500, json!({"detail": "Internal Server Error"})));
    let reply = get(addr, "/items/5");
    assert_eq!(reply.status, 200);

    let reply = get(addr, "/html");
    assert_eq!(reply.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(reply.body, "<h1>hi</h1>");

    let reply = request(addr, "HEAD", "/items/5", None);
    assert_eq!((reply.status, reply.body.as_str()), (200, ""));
    assert_eq!(reply.header("content-length"), Some("33"));
    server.shutdown();
    server.join().unwrap();
}

#[test]
fn streaming_responses_go_out_chunked() {
    let server = serve(items_app);
    let reply = get(server.local_addr(), "/stream");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
    assert_eq!(reply.body, "abc");
    server.shutdown();
    server.join().unwrap();
}

/// Records the order middleware run in.
fn tracing_middleware(
    name: &'static str,
    log: Rc<RefCell<Vec<String>>>,
) -> impl Fn(Request, Next) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response>>> {
    move |req, next| {
        let log = log.clone();
        Box::pin(async move {
            log.borrow_mut().push(format!("{name} before"));
            let mut response = next.run(req).await;
            log.borrow_mut().push(format!("{name} after"));
            let order = String::from_utf8_lossy(response.header("x-order").unwrap_or_default()).into_owned();
            response.set_header("x-order", format!("{order}{name}"));
            response
        })
    }
}

#[test]
fn middleware_runs_in_registration_order_around_the_handler() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_in_app = seen.clone();
    let server = serve(move || {
        let log = Rc::new(RefCell::new(Vec::new()));
        let seen = seen_in_app.clone();
        let handler_log = log.clone();
        App::new()
            .middleware(tracing_middleware("outer", log.clone()))
            .middleware(tracing_middleware("inner", log.clone()))
            .middleware(rasgi::app::middleware::process_time)
            .get("/", move |_req: Request| {
                let log = handler_log.clone();
                let seen = seen.clone();
                async move {
                    log.borrow_mut().push("handler".into());
                    *seen.lock().unwrap() = log.borrow().clone();
                    "ok"
                }
            })
    });
    let reply = get(server.local_addr(), "/");
    assert_eq!(reply.body, "ok");
    assert_eq!(*seen.lock().unwrap(), ["outer before", "inner before", "handler"]);
    // The response passes back out through inner, then outer.
    assert_eq!(reply.header("x-order"), Some("innerouter"));
    let process_time: f64 = reply.header("x-process-time").expect("x-process-time").parse().expect("a number");
    assert!((0.0..1.0).contains(&process_time), "{process_time}");
    // Middleware also wraps 404s.
    assert_eq!(get(server.local_addr(), "/missing").header("x-order"), Some("innerouter"));
    server.shutdown();
    server.join().unwrap();
}

/// What startup puts into the state.
struct Greeting(String);

#[test]
fn lifespan_hooks_fill_state_and_run_at_shutdown() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let events_in_app = events.clone();
    let server = serve(move || {
        let (startup_events, shutdown_events) = (events_in_app.clone(), events_in_app.clone());
        App::new()
            .on_startup(move |state| {
                let events = startup_events.clone();
                async move {
                    events.lock().unwrap().push("startup");
                    state.insert(Greeting("hello from startup".into()));
                    Ok(())
                }
            })
            .on_shutdown(move |_state| {
                let events = shutdown_events.clone();
                async move {
                    events.lock().unwrap().push("shutdown");
                    Ok(())
                }
            })
            .get("/", |req: Request| async move {
                match req.state::<Greeting>() {
                    Some(greeting) => greeting.0.clone(),
                    None => "no state".to_owned(),
                }
            })
    });
    assert_eq!(*events.lock().unwrap(), ["startup"]);
    assert_eq!(get(server.local_addr(), "/").body, "hello from startup");
    server.shutdown();
    server.join().unwrap();
    assert_eq!(*events.lock().unwrap(), ["startup", "shutdown"]);
}

#[test]
fn a_failing_startup_hook_stops_the_server_with_its_message() {
    let config = Config { port: 0, handle_signals: false, ..Config::default() };
    let result = server::start(config, || App::new().on_startup(|_| async { Err("database unreachable".to_owned()) }));
    match result {
        Err(e) => assert_eq!(e.to_string(), "application startup failed: database unreachable"),
        Ok(_) => panic!("the server started despite a failing startup hook"),
    }
}

#[test]
fn the_app_can_be_called_without_a_server() {
    let response = rasgi_executor::block_on(async {
        let app = items_app();
        let scope = rasgi_http::Scope::build("GET", "/items/3?q=x", &[("host", b"t")]);
        app.handle(scope, Vec::new()).await
    });
    assert_eq!(response.status, 200);
    assert_eq!(
        json_body(std::str::from_utf8(response.body_bytes()).unwrap()),
        json!({"item_id": 3, "q": "x", "limit": 10})
    );
}

#[allow(dead_code)]
fn assert_addr(_: SocketAddr) {}
