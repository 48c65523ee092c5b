//! A route's handler, and the boxes its calls run in.
//!
//! An [`App`](super::App) keeps handlers of many types in one table, so the future of a
//! call must be type-erased: the usual answer is a `Pin<Box<dyn Future>>`, one
//! allocation and one free per request (a boxed tower service in hyper, a new coroutine
//! object per call in Python). Here each route keeps the boxes its finished calls ran
//! in instead, and the next call runs in one of them:
//!
//! ```text
//!   take a spare slot (or make one)        Box<dyn Slot>: the route's `make` + Pin<Box<Option<F>>>
//!   write the call's future into its box   Pin::set(Some(make(request)))
//!   poll it there until the response is ready
//!   drop the finished future in place      Pin::set(None), and the slot goes back to the spares
//! ```
//!
//! All of it is safe Rust: a future is created into pinned memory and dropped there, and
//! no box is ever un-pinned, so nothing a future points into moves. The slot itself is
//! not pinned (it only holds the pinned box), so each slot is a plain `Box<dyn Slot>`
//! whose methods know the future's type `F` and the route's function `M` statically. A
//! call that does not finish — it panicked (the app turns that into a 500) or its
//! connection was dropped — takes its slot with it, and the slot is freed rather than
//! reused.
//!
//! In instructions this is a wash: glibc's thread cache makes a small `malloc` and `free`
//! cheap, and a plaintext request measures 6,320 instructions with the slots against
//! 6,308 with a fresh box. What it buys is a request that allocates nothing at all
//! (`tests/app_allocations.rs` holds it to that), so that a busy loop's cost does not
//! depend on the allocator's state: its caches, its fragmentation, its locks once a
//! blocking-pool thread frees into the same arena.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use rasgi_http::spares::Spares;

use super::error::HttpException;
use super::request::Request;
use super::response::Response;

/// How many finished slots a route keeps: the most calls of one route expected in
/// flight at once on one loop.
const SPARE_SLOTS: usize = 256;

/// A reusable home for one call's future, seen without its types.
trait Slot {
    /// Makes the future of a call into the (empty) box.
    fn start(&mut self, request: Request);
    /// Polls the future in the box.
    fn poll_response(&mut self, cx: &mut Context<'_>) -> Poll<Response>;
    /// Drops the finished future in place, leaving the box empty for the next call.
    fn clear(&mut self);
}

/// The slot of a route whose function is `M`, making futures of type `F`.
struct TypedSlot<M, F> {
    /// The route's function, shared by all its slots.
    make: Rc<M>,
    /// The future of the call in progress; `None` between calls.
    future: Pin<Box<Option<F>>>,
}

impl<M, F> Slot for TypedSlot<M, F>
where
    M: Fn(Request) -> F,
    F: Future<Output = Response>,
{
    fn start(&mut self, request: Request) {
        self.future.set(Some((self.make)(request)));
    }

    fn poll_response(&mut self, cx: &mut Context<'_>) -> Poll<Response> {
        match self.future.as_mut().as_pin_mut() {
            Some(future) => future.poll(cx),
            // Only an empty box polled, which `Handler::call` never does.
            None => Poll::Ready(HttpException::internal().to_response()),
        }
    }

    fn clear(&mut self) {
        self.future.set(None);
    }
}

/// A route's handler: makes the future of each call and keeps the slots they ran in.
pub(crate) struct Handler {
    /// Makes a new, empty slot for this route.
    new_slot: Box<dyn Fn() -> Box<dyn Slot>>,
    /// Empty slots of finished calls, for the next ones.
    spares: Spares<Box<dyn Slot>>,
}

impl Handler {
    /// The handler that answers a request with the future `make` returns for it.
    pub(crate) fn new<M, F>(make: M) -> Handler
    where
        M: Fn(Request) -> F + 'static,
        F: Future<Output = Response> + 'static,
    {
        let make = Rc::new(make);
        Handler {
            new_slot: Box::new(move || Box::new(TypedSlot { make: make.clone(), future: Box::pin(None::<F>) })),
            spares: Spares::new(SPARE_SLOTS),
        }
    }

    /// Answers `request`: runs the route's future in a spare slot, and keeps the slot
    /// once the response is ready. A kept-alive connection calling the same route over
    /// and over allocates nothing here after its first call.
    pub(crate) async fn call(&self, request: Request) -> Response {
        let mut slot = self.spares.take().unwrap_or_else(|| (self.new_slot)());
        slot.start(request);
        let response = poll_fn(|cx| slot.poll_response(cx)).await;
        slot.clear();
        self.spares.give(slot);
        response
    }

    /// How many empty slots the route keeps now.
    #[cfg(test)]
    fn spare_slots(&self) -> usize {
        self.spares.len()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;

    fn request() -> Request {
        Request::new(rasgi_http::Scope::build("GET", "/", &[]), Vec::new(), Vec::new(), None)
    }

    /// Counts how many of the futures it makes are alive.
    struct Alive(Rc<Cell<usize>>);

    impl Drop for Alive {
        fn drop(&mut self) {
            self.0.set(self.0.get() - 1);
        }
    }

    #[test]
    fn calls_reuse_one_slot_and_drop_each_future_when_it_is_done() {
        let alive = Rc::new(Cell::new(0));
        let counter = alive.clone();
        let handler = Handler::new(move |_req| {
            counter.set(counter.get() + 1);
            let guard = Alive(counter.clone());
            async move {
                let _guard = guard;
                rasgi_executor::yield_now().await;
                Response::text(200, "ok")
            }
        });
        let runtime = rasgi_executor::Runtime::new().expect("runtime");
        for _ in 0..3 {
            let response = runtime.block_on(handler.call(request()));
            assert_eq!((response.status, response.body_bytes()), (200, &b"ok"[..]));
            assert_eq!(alive.get(), 0, "the finished future was dropped in its slot");
            assert_eq!(handler.spare_slots(), 1);
        }
    }

    #[test]
    fn concurrent_calls_each_get_a_slot_and_all_are_kept() {
        let handler = Rc::new(Handler::new(|_req| async {
            rasgi_executor::yield_now().await;
            Response::text(200, "ok")
        }));
        let runtime = rasgi_executor::Runtime::new().expect("runtime");
        let statuses = runtime.block_on(rasgi_executor::join_all((0..3).map(|_| {
            let handler = handler.clone();
            async move { handler.call(request()).await.status }
        })));
        assert_eq!(statuses, [200, 200, 200]);
        assert_eq!(handler.spare_slots(), 3);
    }

    #[test]
    fn a_call_dropped_before_it_finishes_takes_its_slot_with_it() {
        let handler = Handler::new(|_req| std::future::pending::<Response>());
        let mut call = Box::pin(handler.call(request()));
        let waker = std::task::Waker::noop();
        assert!(call.as_mut().poll(&mut Context::from_waker(waker)).is_pending());
        drop(call);
        assert_eq!(handler.spare_slots(), 0);
    }
}
