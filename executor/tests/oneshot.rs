//! `sync::oneshot`: one value from one task to another — an `asyncio.Future` whose
//! result another task sets. If the sender goes away without sending, the receiver is
//! told (`RecvError`) instead of waiting forever.

mod common;

use std::time::Duration;

use common::within;
use rasgi_executor::sync::oneshot::{self, RecvError};
use rasgi_executor::{block_on, sleep, spawn};

#[test]
fn the_receiver_gets_the_value_sent_later_by_another_task() {
    let got = within(Duration::from_secs(10), || {
        block_on(async {
            let (tx, rx) = oneshot::channel();
            spawn(async move {
                sleep(Duration::from_millis(10)).await;
                tx.send(String::from("the value")).unwrap();
            });
            rx.await
        })
    });
    assert_eq!(got, Ok(String::from("the value")));
}

#[test]
fn a_value_sent_before_the_receiver_waits_is_kept() {
    let got = block_on(async {
        let (tx, rx) = oneshot::channel();
        tx.send(5).unwrap();
        rx.await
    });
    assert_eq!(got, Ok(5));
}

#[test]
fn a_dropped_sender_wakes_the_receiver_with_an_error() {
    let got = within(Duration::from_secs(10), || {
        block_on(async {
            let (tx, rx) = oneshot::channel::<u32>();
            spawn(async move {
                sleep(Duration::from_millis(10)).await;
                drop(tx);
            });
            rx.await
        })
    });
    assert_eq!(got, Err(RecvError));
    assert_eq!(RecvError.to_string(), "the sender was dropped without sending a value");
}

#[test]
fn sending_to_a_dropped_receiver_gives_the_value_back() {
    block_on(async {
        let (tx, rx) = oneshot::channel();
        assert!(!tx.is_closed());
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.send("unwanted"), Err("unwanted"));
    });
}
