//! Whether a transform may take a second core for a helper thread (see [`crate::rows::stream`]:
//! a decoder beside the resize or the encoder): only while fewer transforms run than the
//! process has cores.
//! A lone request then finishes sooner; a busy server, whose cores are all taken by requests,
//! keeps one thread per request and loses no throughput to handing rows between threads.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

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
}
