//! How many queries a node evaluates at once (`query.concurrent_max`) and how many may wait
//! (`query.queue_max`): each evaluation can hold up to `query.samples_max` samples in memory
//! on a blocking thread, so without a bound a burst of dashboards takes the node's memory and
//! threads. A query beyond the queue is refused at once with 429; one in the queue waits at
//! most its timeout (503 `timeout` after).

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ApiError;

/// The evaluation slots of one node.
pub struct QuerySlots {
    slots: std::sync::Arc<Semaphore>,
    concurrent_max: usize,
    waiting: AtomicUsize,
    queue_max: usize,
}

/// Counts a waiting query out of the queue however its wait ends (a slot, a timeout, a client
/// gone).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl QuerySlots {
    /// `concurrent_max` slots (at least 1) and room for `queue_max` waiting queries.
    pub fn new(concurrent_max: usize, queue_max: usize) -> Self {
        let concurrent_max = concurrent_max.max(1);
        QuerySlots {
            slots: std::sync::Arc::new(Semaphore::new(concurrent_max)),
            concurrent_max,
            waiting: AtomicUsize::new(0),
            queue_max,
        }
    }

    /// A slot, now or after waiting in the queue; refused (429) when the queue is full.
    pub async fn acquire(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        if let Ok(p) = self.slots.clone().try_acquire_owned() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue_max {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::Overloaded(format!(
                "too many queries: {} running and {} waiting (query.concurrent_max, \
                 query.queue_max); retry later",
                self.concurrent_max, self.queue_max
            )));
        }
        let _waiting = Waiting(&self.waiting);
        self.slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| ApiError::Overloaded(format!("query slots closed: {e}")))
    }

    /// Queries evaluating now and waiting for a slot.
    pub fn load(&self) -> (usize, usize) {
        (
            self.concurrent_max - self.slots.available_permits(),
            self.waiting.load(Ordering::Acquire),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn queries_beyond_the_slots_wait_and_beyond_the_queue_are_refused() {
        let slots = std::sync::Arc::new(QuerySlots::new(1, 1));
        let running = slots.acquire().await.unwrap();
        assert_eq!(slots.load(), (1, 0));
        let s = slots.clone();
        let queued = tokio::spawn(async move { s.acquire().await.map(|_| ()) });
        while slots.load().1 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        match slots.acquire().await {
            Err(ApiError::Overloaded(m)) => assert!(m.contains("query.queue_max"), "{m}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
        drop(running);
        queued.await.unwrap().unwrap();
        assert_eq!(slots.load(), (0, 0));
    }

    #[tokio::test]
    async fn a_wait_given_up_leaves_the_queue() {
        let slots = QuerySlots::new(1, 1);
        let _running = slots.acquire().await.unwrap();
        let gave_up = tokio::time::timeout(Duration::from_millis(20), slots.acquire()).await;
        assert!(gave_up.is_err());
        assert_eq!(slots.load(), (1, 0), "the queue has room again");
    }
}
