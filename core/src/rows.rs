//! Rows made top to bottom by one piece of work and taken, a strip at a time, by another: a
//! decoder feeding an encoder or a resize, effects feeding an encoder. With a core free
//! ([`crate::cores::one_to_spare`]) the rows are made on a second thread while this one takes
//! the strips already made, as libvips' write-behind sink does; without, each strip is taken
//! between the rows, so no more than a strip is ever held. Both ways give the same result.

use std::io;
use std::panic::resume_unwind;
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread;
use std::time::Duration;

use crate::error::{Error, Result};

/// Strips waiting for the taker.
const STRIPS_IN_FLIGHT: usize = 2;

/// Takes the rows of an image being made for [`stream`], top to bottom.
pub(crate) struct RowSink<'c> {
    row_bytes: usize,
    strip_rows: usize,
    /// Rows are written at the start of the strip, `filled` bytes so far. A strip that comes
    /// back from the taker keeps its length, so that its bytes are written over rather than
    /// zeroed first (on the making thread, which the taker waits for).
    strip: Vec<u8>,
    filled: usize,
    to: StripsTo<'c>,
}

/// Where a [`RowSink`]'s full strips go.
enum StripsTo<'c> {
    /// To the taker on another thread; taken strips come back to be filled again.
    Thread {
        strips: SyncSender<Vec<u8>>,
        taken: Receiver<Vec<u8>>,
    },
    /// To the taker at once, on the thread that makes the rows. Its first error is kept, to
    /// be reported instead of the error it makes the maker return.
    Here {
        take: &'c mut (dyn FnMut(&[u8]) -> Result<()> + Send),
        failure: Option<Error>,
    },
}

impl RowSink<'_> {
    /// Adds a row. (A failed taker's error is reported by [`stream`]; the maker may go on.)
    pub(crate) fn push(&mut self, row: &[u8]) {
        let _ = self.push_with(|slot| {
            slot.copy_from_slice(row);
            Ok(())
        });
    }

    /// Adds a row that `fill` writes. Fails without calling `fill` once the taker has failed,
    /// so that a maker stops early. The row stays at the address `fill` saw until its strip
    /// has been taken: every strip is allocated whole, so it never moves as it fills.
    pub(crate) fn push_with(
        &mut self,
        fill: impl FnOnce(&mut [u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        if let StripsTo::Here {
            failure: Some(_), ..
        } = self.to
        {
            return Err(taker_failed());
        }
        let end = self.filled + self.row_bytes;
        if self.strip.len() < end {
            self.strip.resize(end, 0);
        }
        fill(&mut self.strip[self.filled..end])?;
        self.filled = end;
        if self.filled >= self.strip_rows * self.row_bytes {
            self.hand_over()?;
        }
        Ok(())
    }

    /// Hands the rows of the strip to the taker.
    fn hand_over(&mut self) -> io::Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        match &mut self.to {
            StripsTo::Thread { strips, taken } => {
                let strip_bytes = self.strip_rows * self.row_bytes;
                let next = taken
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(strip_bytes));
                self.strip.truncate(self.filled);
                // A closed channel means the taker failed (its error is reported by `stream`).
                if strips
                    .send(std::mem::replace(&mut self.strip, next))
                    .is_err()
                {
                    return Err(taker_failed());
                }
            }
            StripsTo::Here { take, failure } => {
                if let Err(err) = take(&self.strip[..self.filled]) {
                    *failure = Some(err);
                    return Err(taker_failed());
                }
            }
        }
        self.filled = 0;
        Ok(())
    }
}

fn taker_failed() -> io::Error {
    io::Error::other("the rows' taker failed")
}

/// Runs `make`, which writes rows of `row_bytes` to a [`RowSink`] top to bottom, and hands
/// them to `take` in strips of `strip_rows` (the last may be shorter), in order. `make` runs
/// on a second thread when `second_thread` is true and one can be had, else on this thread
/// between the strips `take` takes. `take` always runs on this thread, so the buffers it
/// allocates live where the allocator's caches are: on a new thread each call, every one was
/// faulted in anew (a 6-MP re-encode took 52 ms instead of 42).
///
/// `take` is `Send` only because the sink that may hold it is one type for both ways.
///
/// An error of `take` is the one reported (`make` then stops at its next row); else an error
/// of `make`.
pub(crate) fn stream(
    second_thread: bool,
    row_bytes: usize,
    strip_rows: usize,
    make: impl FnOnce(&mut RowSink) -> Result<()> + Send,
    mut take: impl FnMut(&[u8]) -> Result<()> + Send,
) -> Result<()> {
    // Shared with the thread, so that `make` can still run here when no thread starts.
    let job = Mutex::new(Some(make));
    let take_job = || job.lock().ok().and_then(|mut job| job.take());
    thread::scope(|scope| {
        if second_thread {
            let (sender, strips) = mpsc::sync_channel::<Vec<u8>>(STRIPS_IN_FLIGHT);
            let (give_back, taken) = mpsc::sync_channel(STRIPS_IN_FLIGHT + 1);
            // Every strip is allocated here, where the allocator's caches live: a thread
            // new for each call would fault its own in afresh. (Reserved, not filled: an
            // image shorter than a strip touches only its rows.)
            let strip_bytes = row_bytes * strip_rows;
            for _ in 0..STRIPS_IN_FLIGHT + 1 {
                let _ = give_back.try_send(Vec::with_capacity(strip_bytes));
            }
            let mut sink = RowSink {
                row_bytes,
                strip_rows,
                strip: Vec::with_capacity(strip_bytes),
                filled: 0,
                to: StripsTo::Thread {
                    strips: sender,
                    taken,
                },
            };
            let making = crate::cores::spawn_helper(scope, "picsmith-rows", || {
                let made = take_job().map_or(Ok(()), |make| make(&mut sink));
                let _ = sink.hand_over();
                drop(sink); // closes the channel: the taker finishes
                made
            });
            if let Ok(making) = making {
                let mut took = Ok(());
                while let Some(strip) = next_strip(&strips) {
                    took = take(&strip);
                    if took.is_err() {
                        break;
                    }
                    let _ = give_back.try_send(strip);
                }
                drop(strips); // after a failed take, the maker stops at its next strip
                let made = making.join().unwrap_or_else(|panic| resume_unwind(panic));
                return took.and(made);
            }
        }
        let mut sink = RowSink {
            row_bytes,
            strip_rows,
            strip: Vec::with_capacity(row_bytes * strip_rows),
            filled: 0,
            to: StripsTo::Here {
                take: &mut take,
                failure: None,
            },
        };
        let make = take_job().ok_or_else(|| Error::internal("row maker lost"))?;
        let made = make(&mut sink);
        let _ = sink.hand_over();
        match sink.to {
            StripsTo::Here {
                failure: Some(err), ..
            } => Err(err),
            _ => made,
        }
    })
}

/// The first and the longest pause of [`next_strip`] between looks at an empty channel; the
/// pause doubles from one to the other while the maker is behind.
const FIRST_PAUSE: Duration = Duration::from_micros(20);
const LONGEST_PAUSE: Duration = Duration::from_micros(160);

/// The next strip the maker sends, or `None` once it has finished. The taker looks, and sleeps
/// a little between looks, instead of blocking until the maker wakes it: a thread woken by
/// another tends to be moved onto the waker's core, which put the taker beside the helper
/// again after [`crate::cores::spawn_helper`] had kept them apart (W1 with calls 130 ms apart,
/// in one run: 12.8 ms looking, 17.9 blocking).
fn next_strip(strips: &Receiver<Vec<u8>>) -> Option<Vec<u8>> {
    let mut pause = FIRST_PAUSE;
    loop {
        match strips.try_recv() {
            Ok(strip) => return Some(strip),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {
                thread::sleep(pause);
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered_rows(sink: &mut RowSink, rows: u8) -> Result<()> {
        for y in 0..rows {
            sink.push(&[y, y]);
        }
        Ok(())
    }

    #[test]
    fn strips_arrive_in_order_with_and_without_a_second_thread() {
        for second_thread in [true, false] {
            let mut taken = Vec::new();
            let mut strips = 0;
            stream(
                second_thread,
                2,
                3,
                |sink| numbered_rows(sink, 10),
                |strip| {
                    strips += 1;
                    taken.extend_from_slice(strip);
                    Ok(())
                },
            )
            .unwrap();
            let expected: Vec<u8> = (0..10).flat_map(|y| [y, y]).collect();
            assert_eq!(taken, expected, "second thread {second_thread}");
            assert_eq!(strips, 4, "three strips of 3 rows and one of 1");
        }
    }

    #[test]
    fn the_taker_s_error_is_reported_and_stops_the_maker() {
        for second_thread in [true, false] {
            let mut rows_made = 0;
            let result = stream(
                second_thread,
                1,
                1,
                |sink| {
                    for _ in 0..1000 {
                        let pushed = sink.push_with(|row| {
                            row[0] = 1;
                            Ok(())
                        });
                        if pushed.is_err() {
                            return Err(Error::invalid_image("the maker's error"));
                        }
                        rows_made += 1;
                    }
                    Ok(())
                },
                |_| Err(Error::internal("the taker's error")),
            );
            let err = result.unwrap_err().to_string();
            assert!(err.contains("the taker's error"), "{err}");
            assert!(
                rows_made < 1000,
                "second thread {second_thread}: {rows_made}"
            );
        }
    }

    #[test]
    fn the_maker_s_error_is_reported_after_the_rows_it_made() {
        for second_thread in [true, false] {
            let mut rows_taken = 0;
            let result = stream(
                second_thread,
                2,
                4,
                |sink| {
                    numbered_rows(sink, 6)?;
                    Err(Error::invalid_image("cut short"))
                },
                |strip| {
                    rows_taken += strip.len() / 2;
                    Ok(())
                },
            );
            assert!(result.unwrap_err().to_string().contains("cut short"));
            assert_eq!(rows_taken, 6, "second thread {second_thread}");
        }
    }
}
