//! The pool both isolating backends keep: sandboxes (wasm) or worker processes (process), up to
//! a capacity, each with the same UDF files loaded. A call checks one out and returns it warm;
//! one that can no longer be trusted is dropped instead, and a later checkout makes a fresh one.

use std::sync::{Condvar, Mutex, MutexGuard};

use crate::error::Result;

/// Something a pool holds.
pub(crate) trait Pooled {
    /// Whether it may serve another call (it did not fail, trap or hang midway).
    fn reusable(&self) -> bool;
}

/// A UDF file as loaded: replayed, in order, into every other and every later pool member.
pub(crate) struct Load {
    pub filename: String,
    pub source: String,
    pub params: Vec<(String, String)>,
}

struct State<T> {
    idle: Vec<T>,
    /// Members in existence: idle, checked out, or being made.
    live: usize,
}

pub(crate) struct Pool<T> {
    capacity: usize,
    state: Mutex<State<T>>,
    /// Signalled when a member is returned or dropped.
    returned: Condvar,
}

/// A member checked out of the pool: returned on drop when still reusable, dropped otherwise
/// (outside the pool's lock). Empty while the member is being made.
pub(crate) struct Lease<'a, T: Pooled> {
    pool: &'a Pool<T>,
    member: Option<T>,
}

impl<T: Pooled> Lease<'_, T> {
    pub fn get(&mut self) -> &mut T {
        self.member.as_mut().expect("a lease holds its member until dropped")
    }
}

impl<T: Pooled> Drop for Lease<'_, T> {
    fn drop(&mut self) {
        let mut state = self.pool.lock();
        let ended = match self.member.take() {
            Some(member) if member.reusable() => {
                state.idle.push(member);
                None
            }
            ended => {
                state.live -= 1;
                ended
            }
        };
        drop(state);
        drop(ended);
        self.pool.returned.notify_one();
    }
}

impl<T: Pooled> Pool<T> {
    pub fn new(capacity: usize) -> Self {
        Self { capacity, state: Mutex::new(State { idle: Vec::new(), live: 0 }), returned: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Members alive now (idle or busy).
    pub fn live(&self) -> usize {
        self.lock().live
    }

    /// Takes an idle member, or makes one with `make` (outside the lock) if fewer than the
    /// capacity exist, or waits for one to be returned.
    pub fn checkout(&self, make: impl FnOnce() -> Result<T>) -> Result<Lease<'_, T>> {
        let mut state = self.lock();
        let member = loop {
            if let Some(member) = state.idle.pop() {
                break Some(member);
            }
            if state.live < self.capacity {
                state.live += 1;
                break None;
            }
            state = self.returned.wait(state).unwrap_or_else(|e| e.into_inner());
        };
        drop(state);
        // From here on, dropping the lease gives the slot back, whatever happens.
        let mut lease = Lease { pool: self, member };
        if lease.member.is_none() {
            lease.member = Some(make()?);
        }
        Ok(lease)
    }

    /// Leases every idle member (the busy ones are mid-call).
    pub fn idle(&self) -> Vec<Lease<'_, T>> {
        let idle = std::mem::take(&mut self.lock().idle);
        idle.into_iter().map(|member| Lease { pool: self, member: Some(member) }).collect()
    }
}
