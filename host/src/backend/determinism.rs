//! Deterministic mode's WASI clocks and random sources (`Options::deterministic`, wasm only).
//!
//! Every call starts from a state derived from the call alone (its function and arguments; a
//! file load from its name and source): the wall clock reads 2000-01-01T00:00:00Z and the
//! monotonic clock 0, each read advancing both by one microsecond, and the random sources
//! restart from a seed hashed from the call. So a call's output depends on its input only, not
//! on which sandbox runs it, what ran there before, or whether the sandbox was replaced after a
//! fault. The random numbers are not secret in this mode: anyone who knows the input knows them.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// Seconds from the Unix epoch to 2000-01-01T00:00:00Z, where every call's wall clock starts.
const WALL_CLOCK_START: u64 = 946_684_800;

/// The state every call of a deterministic sandbox starts from again.
#[derive(Debug, Default)]
struct State {
    /// Microseconds read so far in this call: each clock read advances it by one.
    ticks: u64,
    /// SplitMix64's state.
    random: u64,
}

/// A sandbox's virtual clocks and random sources, reset at every call ([`Determinism::begin`]).
#[derive(Clone, Debug, Default)]
pub struct Determinism(Arc<Mutex<State>>);

impl Determinism {
    /// Starts a call whose input hashes to `seed`.
    pub fn begin(&self, seed: u64) {
        *self.state() = State { ticks: 0, random: seed };
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tick(&self) -> u64 {
        let mut state = self.state();
        state.ticks += 1;
        state.ticks
    }

    pub fn wall_clock(&self) -> impl HostWallClock + 'static {
        WallClock(self.clone())
    }

    pub fn monotonic_clock(&self) -> impl HostMonotonicClock + 'static {
        MonotonicClock(self.clone())
    }

    pub fn random(&self) -> SeededRandom {
        SeededRandom(self.clone())
    }
}

/// The seed of a call: a hash of what identifies its input.
pub fn seed_of(parts: &[&[u8]]) -> u64 {
    // SipHash with fixed keys: the same input gives the same seed in every process.
    let mut hasher = std::hash::DefaultHasher::new();
    for part in parts {
        part.hash(&mut hasher);
    }
    hasher.finish()
}

struct WallClock(Determinism);

impl HostWallClock for WallClock {
    fn resolution(&self) -> Duration {
        Duration::from_micros(1)
    }

    fn now(&self) -> Duration {
        Duration::from_secs(WALL_CLOCK_START) + Duration::from_micros(self.0.tick())
    }
}

struct MonotonicClock(Determinism);

impl HostMonotonicClock for MonotonicClock {
    fn resolution(&self) -> u64 {
        1_000
    }

    fn now(&self) -> u64 {
        self.0.tick().saturating_mul(1_000)
    }
}

/// SplitMix64 over the shared state: small, fast and fully determined by its seed.
pub struct SeededRandom(Determinism);

impl rand_core::TryRng for SeededRandom {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut state = self.0.state();
        state.random = state.random.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state.random;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Ok(z ^ (z >> 31))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng;

    #[test]
    fn every_call_starts_over_from_its_seed() {
        let determinism = Determinism::default();
        let (wall, monotonic, mut random) =
            (determinism.wall_clock(), determinism.monotonic_clock(), determinism.random());
        determinism.begin(seed_of(&[b"f", b"args"]));
        let first = (wall.now(), monotonic.now(), random.next_u64(), random.next_u32());
        assert_eq!(first.0, Duration::from_secs(WALL_CLOCK_START) + Duration::from_micros(1));
        assert_eq!(first.1, 2_000, "each read advances the clocks");
        determinism.begin(seed_of(&[b"f", b"args"]));
        assert_eq!(first, (wall.now(), monotonic.now(), random.next_u64(), random.next_u32()));
        determinism.begin(seed_of(&[b"f", b"other args"]));
        let _ = (wall.now(), monotonic.now());
        assert_ne!(first.2, random.next_u64(), "another input, other numbers");
        let mut bytes = [0u8; 13];
        random.fill_bytes(&mut bytes);
        assert!(bytes.iter().any(|&b| b != 0));
    }
}
