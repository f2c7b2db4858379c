//! Whether a transform may take a second core for a helper thread (see [`crate::rows::stream`]:
//! a decoder beside the resize or the encoder): only while fewer transforms run than the
//! process has cores.
//! A lone request then finishes sooner; a busy server, whose cores are all taken by requests,
//! keeps one thread per request and loses no throughput to handing rows between threads.

use std::panic::resume_unwind;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

/// Transforms running now, in every thread of the process.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Counts one transform as running for as long as it lives.
pub(crate) struct Running(());

impl Running {
    pub(crate) fn start() -> Running {
        RUNNING.fetch_add(1, Ordering::Relaxed);
        Running(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether the running transforms leave a core free.
pub(crate) fn one_to_spare() -> bool {
    static CORES: OnceLock<usize> = OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    RUNNING.load(Ordering::Relaxed) < cores
}

/// Runs `here` on this thread while a helper thread named `name` runs `beside`; when no thread
/// can be started, this thread runs `beside` after `here`. A panic in either reaches the caller.
/// For work split in two halves once [`one_to_spare`] has allowed the second core.
pub(crate) fn run_beside(name: &str, here: impl FnOnce(), beside: impl FnOnce() + Send) {
    // Shared with the helper, so that this thread can still run it when none starts.
    let beside = Mutex::new(Some(beside));
    let run = || {
        let work = beside.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(work) = work {
            work();
        }
    };
    std::thread::scope(|scope| {
        let helper = std::thread::Builder::new()
            .name(name.into())
            .spawn_scoped(scope, run);
        here();
        match helper {
            Ok(helper) => helper.join().unwrap_or_else(|panic| resume_unwind(panic)),
            Err(_) => run(),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_transforms_are_counted_while_they_live() {
        let before = RUNNING.load(Ordering::Relaxed);
        let running = Running::start();
        assert!(RUNNING.load(Ordering::Relaxed) > before);
        drop(running);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let busy: Vec<Running> = (0..cores).map(|_| Running::start()).collect();
        assert!(
            !one_to_spare(),
            "{cores} transforms on {cores} cores leave none free"
        );
        drop(busy);
    }

    #[test]
    fn both_halves_run_once() {
        let (mut first, mut second) = (0, 0);
        run_beside("picsmith-test", || first += 1, || second += 1);
        assert_eq!((first, second), (1, 1));
    }
}
