//! Whether a transform may take a second core for a helper thread (see [`crate::rows::stream`]:
//! a decoder beside the resize or the encoder): only while fewer transforms run than the
//! process has cores.
//! A lone request then finishes sooner; a busy server, whose cores are all taken by requests,
//! keeps one thread per request and loses no throughput to handing rows between threads.
//!
//! A helper is kept off the core of the thread that started it ([`spawn_helper`]). After the
//! machine had idled for a while, Linux on a 2-vCPU KVM guest put a new helper on its caller's
//! core, and the two took turns there for most of the image while the other core idled (`perf
//! sched timehist`), which made W1's thumbnail take 18.4 ms instead of 9.2 when calls came
//! 130 ms apart, slower than with no helper at all (15.2); kept apart, 10.8 (with the taker's
//! way of waiting in [`crate::rows::stream`]).

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
        let helper = spawn_helper(scope, name, run);
        here();
        match helper {
            Ok(helper) => helper.join().unwrap_or_else(|panic| resume_unwind(panic)),
            Err(_) => run(),
        }
    });
}

/// Starts a helper thread named `name` in `scope`, running `work` on any core this thread may
/// use but the one it is on now (on Linux; elsewhere, wherever the system puts it), so that the
/// two run side by side. With one core allowed, the helper may share it.
pub(crate) fn spawn_helper<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    name: &str,
    work: impl FnOnce() -> T + Send + 'scope,
) -> std::io::Result<std::thread::ScopedJoinHandle<'scope, T>> {
    let starter = current_core();
    std::thread::Builder::new()
        .name(name.into())
        .spawn_scoped(scope, move || {
            if let Some(core) = starter {
                keep_off_core(core);
            }
            work()
        })
}

#[cfg(target_os = "linux")]
fn current_core() -> Option<usize> {
    // SAFETY: no arguments; returns -1 when the core cannot be told.
    usize::try_from(unsafe { libc::sched_getcpu() }).ok()
}

#[cfg(not(target_os = "linux"))]
fn current_core() -> Option<usize> {
    None
}

/// Takes `core` out of the cores this thread may run on, unless it is the only one left.
#[cfg(target_os = "linux")]
fn keep_off_core(core: usize) {
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `cores` is a plain bit set of `size` bytes, read and written by these calls only;
    // pid 0 is the calling thread. A failure leaves the thread where it may run already.
    unsafe {
        let mut cores: libc::cpu_set_t = std::mem::zeroed();
        if core >= libc::CPU_SETSIZE as usize
            || libc::sched_getaffinity(0, size, &mut cores) != 0
            || !libc::CPU_ISSET(core, &cores)
            || libc::CPU_COUNT(&cores) < 2
        {
            return;
        }
        libc::CPU_CLR(core, &mut cores);
        libc::sched_setaffinity(0, size, &cores);
    }
}

#[cfg(not(target_os = "linux"))]
fn keep_off_core(_core: usize) {}

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

    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_kept_off_a_core_leaves_it() {
        std::thread::spawn(|| {
            // How many cores this thread may run on, and whether `core` is one.
            let allowed = |core: usize| {
                // SAFETY: a plain bit set filled by the call, for this thread.
                unsafe {
                    let mut cores: libc::cpu_set_t = std::mem::zeroed();
                    let size = size_of::<libc::cpu_set_t>();
                    assert_eq!(libc::sched_getaffinity(0, size, &mut cores), 0);
                    (libc::CPU_COUNT(&cores), libc::CPU_ISSET(core, &cores))
                }
            };
            let core = current_core().expect("Linux tells the current core");
            let (before, _) = allowed(core);
            keep_off_core(core);
            if before > 1 {
                assert_eq!(allowed(core), (before - 1, false));
                assert_ne!(current_core(), Some(core));
            } else {
                assert_eq!(allowed(core), (1, true), "the only core stays allowed");
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn both_halves_run_once() {
        let (mut first, mut second) = (0, 0);
        run_beside("picsmith-test", || first += 1, || second += 1);
        assert_eq!((first, second), (1, 1));
    }
}
