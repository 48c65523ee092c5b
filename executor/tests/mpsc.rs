//! `sync::mpsc`: a bounded queue between tasks — `asyncio.Queue(maxsize=n)`. When it is
//! full, `send` waits until the receiver takes a value (backpressure); when every sender
//! is gone and the queue is drained, `recv` returns `None` (end of stream).

mod common;

use std::time::Duration;

use common::{within, Log};
use rasgi_executor::sync::mpsc::{self, SendError};
use rasgi_executor::{block_on, spawn, yield_now};

/// Lets every other ready task run until it blocks.
async fn let_others_run() {
    for _ in 0..10 {
        yield_now().await;
    }
}

#[test]
fn the_third_send_into_a_capacity_two_channel_waits_for_a_recv() {
    let events = within(Duration::from_secs(10), || {
        block_on(async {
            let log = Log::default();
            let (tx, mut rx) = mpsc::channel(2);
            let producer = spawn({
                let log = log.clone();
                async move {
                    for i in 1..=3 {
                        tx.send(i).await.unwrap();
                        log.push(format!("sent {i}"));
                    }
                }
            });
            let_others_run().await;
            // Two values fit; the producer is parked in its third send.
            assert_eq!(log.snapshot(), ["sent 1", "sent 2"]);
            assert!(!producer.is_finished());

            log.push("recv");
            assert_eq!(rx.recv().await, Some(1));
            let_others_run().await;
            assert!(producer.is_finished());
            assert_eq!(rx.recv().await, Some(2));
            assert_eq!(rx.recv().await, Some(3));
            // The producer finished, dropping the only sender: end of stream.
            assert_eq!(rx.recv().await, None);
            log.take()
        })
    });
    assert_eq!(events, ["sent 1", "sent 2", "recv", "sent 3"]);
}

#[test]
fn end_of_stream_comes_only_after_every_sender_is_dropped_and_the_queue_drained() {
    let received = within(Duration::from_secs(10), || {
        block_on(async {
            let (tx, mut rx) = mpsc::channel(8);
            let tx2 = tx.clone();
            let first = spawn(async move {
                tx.send("from the first sender").await.unwrap();
            });
            let second = spawn(async move {
                yield_now().await;
                tx2.send("from the clone").await.unwrap();
            });
            let mut received = Vec::new();
            while let Some(value) = rx.recv().await {
                received.push(value);
            }
            first.await.unwrap();
            second.await.unwrap();
            received
        })
    });
    assert_eq!(received, ["from the first sender", "from the clone"]);
}

#[test]
fn sending_after_the_receiver_is_gone_gives_the_value_back() {
    block_on(async {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        assert_eq!(tx.send(9).await, Err(SendError(9)));
        assert_eq!(tx.try_send(10), Err(SendError(10)));
    });
}

#[test]
fn try_send_refuses_when_full_and_close_wakes_a_waiting_sender() {
    within(Duration::from_secs(10), || {
        block_on(async {
            let (tx, mut rx) = mpsc::channel(1);
            tx.try_send(1).unwrap();
            assert_eq!(tx.try_send(2), Err(SendError(2)));
            assert_eq!(tx.len(), 1);
            let blocked = spawn(async move { tx.send(3).await });
            let_others_run().await;
            assert!(!blocked.is_finished());
            // Closing fails the waiting send; values already queued can still be read.
            rx.close();
            assert_eq!(blocked.await.unwrap(), Err(SendError(3)));
            assert_eq!(rx.recv().await, Some(1));
            assert_eq!(rx.recv().await, None);
        })
    });
}
