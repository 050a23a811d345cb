//! How many bytes of remote-write requests a node holds at once (`limits.write_inflight_bytes_max`):
//! each request reserves its compressed body before reading it (its `Content-Length`, or
//! `limits.write_body_bytes_max` when it does not say) and its decompressed size once read, and
//! gives both back when it is answered. A request that cannot reserve within
//! `limits.write_inflight_wait_ms` is answered 503 with `Retry-After`, which every agent
//! retries (as VictoriaMetrics answers when its insert queue is full), and nothing of it is
//! written. Without it, a burst of large batches over many connections takes the node's memory.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ApiError;
use crate::error::NodeError;

/// Units of the budget: reservations are counted in KiB, so that one can hold up to 4 TiB
/// (`Semaphore::acquire_many` counts in `u32`).
const UNIT_BYTES: u64 = 1024;

/// The write bytes of one node.
pub struct WriteBudget {
    units: Arc<Semaphore>,
    units_max: u32,
    wait: Duration,
}

/// Bytes reserved by one request, given back when dropped.
#[derive(Default)]
pub struct Reservation(Vec<OwnedSemaphorePermit>);

impl WriteBudget {
    /// A budget of `bytes_max` (at least one unit) within which a request waits at most
    /// `wait_ms`.
    pub fn new(bytes_max: u64, wait_ms: u64) -> Self {
        let units_max = u32::try_from(bytes_max.div_ceil(UNIT_BYTES))
            .unwrap_or(u32::MAX)
            .max(1);
        WriteBudget {
            units: Arc::new(Semaphore::new(units_max as usize)),
            units_max,
            wait: Duration::from_millis(wait_ms),
        }
    }

    /// Adds `bytes` to `reservation`, waiting for them at most the configured wait. A request
    /// larger than the whole budget reserves all of it (alone, it may still run).
    pub async fn reserve(&self, reservation: &mut Reservation, bytes: u64) -> Result<(), ApiError> {
        let Some(units) = self.units_for(reservation, bytes) else {
            return Ok(());
        };
        let acquired =
            tokio::time::timeout(self.wait, self.units.clone().acquire_many_owned(units)).await;
        match acquired {
            Ok(Ok(p)) => {
                reservation.0.push(p);
                Ok(())
            }
            Ok(Err(e)) => Err(NodeError::Internal(format!("write budget closed: {e}")).into()),
            Err(_) => Err(self.full(&format!(
                "none came free within limits.write_inflight_wait_ms ({} ms)",
                self.wait.as_millis()
            ))),
        }
    }

    /// Adds `bytes` to `reservation` if they are free now. A request that holds part of the
    /// budget never waits for more: two such requests waiting for each other's bytes would
    /// hold up every request queued behind them.
    pub fn reserve_now(&self, reservation: &mut Reservation, bytes: u64) -> Result<(), ApiError> {
        let Some(units) = self.units_for(reservation, bytes) else {
            return Ok(());
        };
        match self.units.clone().try_acquire_many_owned(units) {
            Ok(p) => {
                reservation.0.push(p);
                Ok(())
            }
            Err(_) => Err(self.full("not enough are free for this request's decompressed body")),
        }
    }

    /// Units to reserve for `bytes` more (`None`: the request holds the whole budget already).
    fn units_for(&self, reservation: &Reservation, bytes: u64) -> Option<u32> {
        let room = self.units_max.saturating_sub(reservation.units());
        (room > 0).then(|| {
            u32::try_from(bytes.div_ceil(UNIT_BYTES))
                .unwrap_or(u32::MAX)
                .clamp(1, room)
        })
    }

    fn full(&self, why: &str) -> ApiError {
        NodeError::Unavailable(format!(
            "too many write bytes in flight: {} bytes are held by other writes \
             (limits.write_inflight_bytes_max) and {why}; retry later",
            self.held_bytes()
        ))
        .into()
    }

    /// Bytes reserved now.
    pub fn held_bytes(&self) -> u64 {
        u64::from(self.units_max).saturating_sub(self.units.available_permits() as u64) * UNIT_BYTES
    }
}

impl Reservation {
    fn units(&self) -> u32 {
        self.0.iter().map(|p| p.num_permits() as u32).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_beyond_the_budget_waits_then_is_refused_and_the_budget_comes_back() {
        let budget = WriteBudget::new(10 * UNIT_BYTES, 50);
        let mut first = Reservation::default();
        budget.reserve(&mut first, 6 * UNIT_BYTES).await.unwrap();
        budget.reserve(&mut first, 3 * UNIT_BYTES).await.unwrap();
        assert_eq!(budget.held_bytes(), 9 * UNIT_BYTES);

        let mut second = Reservation::default();
        let refused = budget
            .reserve(&mut second, 2 * UNIT_BYTES)
            .await
            .unwrap_err();
        let (status, _) = refused.status_and_type();
        assert_eq!(status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            refused.to_string().contains("write_inflight_bytes_max"),
            "{refused}"
        );

        drop(first);
        assert_eq!(budget.held_bytes(), 0);
        budget.reserve(&mut second, 2 * UNIT_BYTES).await.unwrap();
        assert_eq!(budget.held_bytes(), 2 * UNIT_BYTES);

        // More for a request already holding some: now or never.
        budget.reserve_now(&mut second, 6 * UNIT_BYTES).unwrap();
        let mut third = Reservation::default();
        budget.reserve(&mut third, UNIT_BYTES).await.unwrap();
        assert!(budget.reserve_now(&mut second, 2 * UNIT_BYTES).is_err());
        assert_eq!(budget.held_bytes(), 9 * UNIT_BYTES);
    }

    #[tokio::test]
    async fn a_waiting_write_goes_on_when_bytes_come_free() {
        let budget = Arc::new(WriteBudget::new(4 * UNIT_BYTES, 5_000));
        let mut first = Reservation::default();
        budget.reserve(&mut first, 4 * UNIT_BYTES).await.unwrap();
        let b = budget.clone();
        let waiter = tokio::spawn(async move {
            let mut r = Reservation::default();
            b.reserve(&mut r, 3 * UNIT_BYTES).await.map(|()| r)
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(first);
        let r = waiter.await.unwrap().unwrap();
        assert_eq!(budget.held_bytes(), 3 * UNIT_BYTES);
        drop(r);
    }

    #[tokio::test]
    async fn one_request_larger_than_the_budget_still_runs_alone() {
        let budget = WriteBudget::new(4 * UNIT_BYTES, 50);
        let mut r = Reservation::default();
        budget.reserve(&mut r, 100 * UNIT_BYTES).await.unwrap();
        budget.reserve(&mut r, 100 * UNIT_BYTES).await.unwrap();
        assert_eq!(budget.held_bytes(), 4 * UNIT_BYTES);
    }
}
