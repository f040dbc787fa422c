//! Completion queues: results of asynchronous calls waiting for the host to drain them, with a
//! Linux `eventfd` that is readable while any wait. The runtime worker that ends a call pushes
//! its result and writes the eventfd itself: no delivery thread, no callback into the host.
//!
//! One lock per queue guards its events, its calls in flight and the eventfd's state, so a push
//! racing a drain can never lose a wake-up: the eventfd is written on the empty → non-empty
//! transition and cleared only by a drain that leaves the queue empty, both under the lock.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::c_char;
use std::sync::{Arc, Mutex, MutexGuard};

/// A result buffer made by `emit` (NULL for a stream's end), freed unless handed to the host.
pub(crate) struct Ready {
    pub(crate) tag: u64,
    data: *mut c_char,
    pub(crate) len: i32,
}

// SAFETY: `data` is an owned heap buffer (from `CString::into_raw`) that nothing else refers to.
unsafe impl Send for Ready {}

impl Ready {
    pub(crate) fn new(tag: u64, data: *mut c_char, len: i32) -> Self {
        Ready { tag, data, len }
    }

    /// Hands the buffer over to the host, who frees it with `liter_llm_free()`.
    pub(crate) fn into_raw(self) -> (u64, *mut c_char, i32) {
        let this = std::mem::ManuallyDrop::new(self);
        (this.tag, this.data, this.len)
    }
}

impl Drop for Ready {
    fn drop(&mut self) {
        if !self.data.is_null() {
            // SAFETY: `data` came from `CString::into_raw` and was never handed out.
            drop(unsafe { std::ffi::CString::from_raw(self.data) });
        }
    }
}

struct State {
    events: VecDeque<Ready>,
    /// The calls started on the queue and not yet ended, cancelled when it is freed.
    calls: HashSet<u64>,
    /// Set by `liter_llm_queue_free()`: later events are dropped.
    closed: bool,
}

/// One completion queue.
pub(crate) struct CompletionQueue {
    fd: i32,
    state: Mutex<State>,
}

impl CompletionQueue {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a call started on the queue; false (recording nothing) once the queue is freed.
    pub(crate) fn track(&self, call: u64) -> bool {
        let mut state = self.state();
        !state.closed && state.calls.insert(call)
    }

    /// Queues an event of `call`; `last` ends the call. Dropped (and freed) once the queue is
    /// freed.
    pub(crate) fn push(&self, call: u64, last: bool, ready: Ready) {
        let mut state = self.state();
        if last {
            state.calls.remove(&call);
        }
        if state.closed {
            return;
        }
        state.events.push_back(ready);
        if state.events.len() == 1 {
            eventfd::signal(self.fd);
        }
    }

    /// Moves up to `capacity` events out, oldest first, clearing the eventfd when none is left.
    pub(crate) fn drain(&self, capacity: usize, mut take: impl FnMut(usize, Ready)) -> usize {
        let mut state = self.state();
        let n = capacity.min(state.events.len());
        for (i, ready) in state.events.drain(..n).enumerate() {
            take(i, ready);
        }
        if state.events.is_empty() {
            eventfd::clear(self.fd);
        }
        n
    }

    /// Closes the queue: drops its undrained events and returns its calls in flight.
    fn close(&self) -> Vec<u64> {
        let mut state = self.state();
        state.closed = true;
        state.events.clear();
        state.calls.drain().collect()
    }
}

impl Drop for CompletionQueue {
    fn drop(&mut self) {
        eventfd::release(self.fd);
    }
}

/// The queues by handle. Handles are never reused, so a stale handle finds nothing.
pub(crate) struct Queues {
    next: std::sync::atomic::AtomicU64,
    live: Mutex<QueueTable>,
}

pub(crate) type QueueTable = Option<HashMap<u64, Arc<CompletionQueue>>>;

pub(crate) static QUEUES: Queues = Queues { next: std::sync::atomic::AtomicU64::new(1), live: Mutex::new(None) };

pub(crate) fn live_queues() -> MutexGuard<'static, QueueTable> {
    QUEUES.live.lock().unwrap_or_else(|p| p.into_inner())
}

/// A new queue and its eventfd, or None when no eventfd can be made.
pub(crate) fn create() -> Option<(u64, i32)> {
    let fd = eventfd::open()?;
    let queue = Arc::new(CompletionQueue {
        fd,
        state: Mutex::new(State { events: VecDeque::new(), calls: HashSet::new(), closed: false }),
    });
    let handle = QUEUES.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    live_queues().get_or_insert_with(HashMap::new).insert(handle, queue);
    Some((handle, fd))
}

pub(crate) fn find(handle: u64) -> Option<Arc<CompletionQueue>> {
    live_queues().as_ref().and_then(|live| live.get(&handle)).cloned()
}

/// Removes a queue and closes it; returns its calls in flight, or None for an unknown handle.
/// The eventfd closes when the last call holding the queue ends.
pub(crate) fn remove(handle: u64) -> Option<Vec<u64>> {
    let queue = live_queues().as_mut().and_then(|live| live.remove(&handle))?;
    Some(queue.close())
}

/// In a child made by `fork()`: forgets the parent's queues (their memory is leaked, as the
/// calls' is: their calls' task handles belong to the parent's runtime) and closes the child's
/// copies of their eventfds. Only async-signal-safe work.
#[cfg(unix)]
pub(crate) fn forget_in_child(table: &mut QueueTable) {
    if let Some(live) = table.take() {
        for queue in live.values() {
            eventfd::release(queue.fd);
        }
        std::mem::forget(live);
    }
}

#[cfg(target_os = "linux")]
mod eventfd {
    use std::ffi::{c_int, c_uint, c_void};

    extern "C" {
        fn eventfd(initval: c_uint, flags: c_int) -> c_int;
        fn read(fd: c_int, buf: *mut c_void, count: usize) -> isize;
        fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
        fn close(fd: c_int) -> c_int;
    }

    // Linux's values (asm-generic and x86 alike): O_NONBLOCK and O_CLOEXEC.
    const EFD_NONBLOCK: c_int = 0o4000;
    const EFD_CLOEXEC: c_int = 0o2000000;

    pub(super) fn open() -> Option<i32> {
        // SAFETY: plain syscall wrapper; no pointers.
        let fd = unsafe { eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) };
        (fd >= 0).then_some(fd)
    }

    pub(super) fn signal(fd: i32) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local. It fails only when the counter would
        // overflow (it is already readable) or for a bad fd; neither loses a wake-up.
        let _ = unsafe { write(fd, (&one as *const u64).cast(), 8) };
    }

    pub(super) fn clear(fd: i32) {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a live local; nonblocking, EAGAIN when already clear.
        let _ = unsafe { read(fd, (&mut count as *mut u64).cast(), 8) };
    }

    pub(super) fn release(fd: i32) {
        if fd >= 0 {
            // SAFETY: the fd is the queue's own, closed once.
            let _ = unsafe { close(fd) };
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod eventfd {
    /// No eventfd on this platform: `liter_llm_queue_new()` fails.
    pub(super) fn open() -> Option<i32> {
        None
    }
    pub(super) fn signal(_fd: i32) {}
    pub(super) fn clear(_fd: i32) {}
    pub(super) fn release(_fd: i32) {}
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn readable(fd: i32) -> bool {
        let mut count: u64 = 0;
        extern "C" {
            fn read(fd: i32, buf: *mut std::ffi::c_void, count: usize) -> isize;
        }
        // SAFETY: reads 8 bytes into a live local (nonblocking). Consumes the counter, so the
        // tests re-signal when they need it again.
        let n = unsafe { read(fd, (&mut count as *mut u64).cast(), 8) };
        if n == 8 {
            eventfd::signal(fd);
        }
        n == 8
    }

    fn event(tag: u64) -> Ready {
        let data = std::ffi::CString::new(format!("{{\"tag\":{tag}}}")).unwrap();
        let len = data.as_bytes().len() as i32;
        Ready::new(tag, data.into_raw(), len)
    }

    #[test]
    fn the_fd_is_readable_exactly_while_events_wait() {
        let (handle, fd) = create().expect("an eventfd");
        let queue = find(handle).unwrap();
        assert!(!readable(fd));
        assert!(queue.track(1) && queue.track(2) && queue.track(3));
        queue.push(1, true, event(1));
        queue.push(2, true, event(2));
        queue.push(3, true, event(3));
        assert!(readable(fd));
        let mut tags = Vec::new();
        let mut collect = |capacity| {
            queue.drain(capacity, |_, r| {
                let (tag, data, _) = r.into_raw();
                tags.push(tag);
                // SAFETY: `data` came from `CString::into_raw` above.
                drop(unsafe { std::ffi::CString::from_raw(data) });
            })
        };
        assert_eq!(collect(2), 2);
        assert!(readable(fd), "events remain: the fd stays readable");
        assert_eq!(collect(2), 1);
        assert!(!readable(fd), "the queue is empty: the fd is clear");
        assert_eq!(collect(2), 0);
        assert_eq!(tags, [1, 2, 3]);
        assert_eq!(remove(handle), Some(vec![]));
        assert!(find(handle).is_none() && remove(handle).is_none());
    }

    #[test]
    fn a_freed_queue_returns_its_calls_and_drops_later_events() {
        let (handle, _fd) = create().expect("an eventfd");
        let queue = find(handle).unwrap();
        assert!(queue.track(7) && queue.track(8));
        queue.push(7, false, event(7));
        queue.push(7, true, event(7));
        let mut calls = remove(handle).unwrap();
        calls.sort_unstable();
        assert_eq!(calls, [8]);
        assert!(!queue.track(9), "a freed queue takes no new call");
        queue.push(8, true, event(8));
        assert_eq!(queue.drain(8, |_, _| panic!("a freed queue delivers nothing")), 0);
    }

    #[test]
    fn a_push_racing_drains_never_loses_a_wake_up() {
        let (handle, fd) = create().expect("an eventfd");
        let queue = find(handle).unwrap();
        let total = 20_000u64;
        let producer = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                for tag in 0..total {
                    assert!(queue.track(tag));
                    queue.push(tag, true, event(tag));
                }
            })
        };
        let mut seen = 0u64;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while seen < total {
            assert!(std::time::Instant::now() < deadline, "drained {seen} of {total}");
            // Drain only when the fd says so, as an event loop does.
            if readable(fd) {
                seen += queue.drain(3, |_, _| ()) as u64;
            }
        }
        producer.join().unwrap();
        assert!(!readable(fd));
        remove(handle);
    }
}
