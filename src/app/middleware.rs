//! `call_next` middleware: FastAPI's `@app.middleware("http")`.
//!
//! A middleware is an async function of the request and [`Next`]; awaiting
//! `next.run(request)` runs the rest of the chain — later middleware, then the route's
//! handler — and gives back its response, which the middleware may change before
//! returning it. The seed's example measures the time around `call_next` and adds an
//! `X-Process-Time` header; [`process_time`] is exactly that.
//!
//! Order: middleware run in the order they were added, the first added outermost (it
//! sees the request first and the response last). Starlette does the opposite — each
//! `add_middleware` wraps everything added before — which surprises many; here the
//! order you read in the code is the order they run.
//!
//! Unlike the pure ASGI-like middleware of `rasgi_http::middleware`, this kind sees a
//! whole [`Response`], so it is the convenient one for headers and logging but not for
//! rewriting streamed bodies.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Instant;

use super::request::Request;
use super::response::Response;
use super::Inner;

/// A boxed middleware function.
pub(crate) type Middleware = Rc<dyn Fn(Request, Next) -> Pin<Box<dyn Future<Output = Response>>>>;

/// The rest of the middleware chain, ending at the router.
pub struct Next {
    /// The application (middleware list and routes).
    pub(crate) inner: Rc<Inner>,
    /// The index of the middleware to run next; past the end means "route the request".
    pub(crate) index: usize,
}

impl Next {
    /// Runs the rest of the chain: FastAPI's `await call_next(request)`.
    pub async fn run(self, request: Request) -> Response {
        match self.inner.middleware.get(self.index) {
            Some(middleware) => {
                let next = Next { inner: self.inner.clone(), index: self.index + 1 };
                middleware(request, next).await
            }
            None => self.inner.dispatch(request).await,
        }
    }
}

/// The seed's middleware: the time spent producing the response, in seconds, as the
/// `x-process-time` header.
pub async fn process_time(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let mut response = next.run(request).await;
    response.set_header("x-process-time", format!("{:.6}", started.elapsed().as_secs_f64()));
    response
}
