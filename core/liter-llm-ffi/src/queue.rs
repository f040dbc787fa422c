//! Completion queues: results of asynchronous calls waiting for the host to drain them, with the
//! read end of a pipe that is readable while any wait. The runtime worker that ends a call
//! pushes its result and writes the pipe itself: no delivery thread, no callback into the host.
//!
//! A pipe rather than an `eventfd`: an event loop that can only watch a stream it reads (libuv,
//! hence Node) accepts a pipe and refuses an eventfd. Such a host consumes the wake-up byte
//! itself, which is why the contract makes it drain until a drain comes back short.
//!
//! One lock per queue guards its events, its calls in flight and the pipe's state, so a push
//! racing a drain can never lose a wake-up: one byte is written on the empty → non-empty
//! transition and the pipe is emptied only by a drain that leaves the queue empty, both under
//! the lock.

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
    pipe: wake::Pipe,
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
            self.pipe.signal();
        }
    }

    /// Moves up to `capacity` events out, oldest first, emptying the pipe when none is left.
    pub(crate) fn drain(&self, capacity: usize, mut take: impl FnMut(usize, Ready)) -> usize {
        let mut state = self.state();
        let n = capacity.min(state.events.len());
        for (i, ready) in state.events.drain(..n).enumerate() {
            take(i, ready);
        }
        if state.events.is_empty() {
            self.pipe.clear();
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
        self.pipe.release();
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

/// A new queue and the read end of its pipe, or None when no pipe can be made.
pub(crate) fn create() -> Option<(u64, i32)> {
    let pipe = wake::Pipe::open()?;
    let fd = pipe.read;
    let queue = Arc::new(CompletionQueue {
        pipe,
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
/// The pipe closes when the last call holding the queue ends.
pub(crate) fn remove(handle: u64) -> Option<Vec<u64>> {
    let queue = live_queues().as_mut().and_then(|live| live.remove(&handle))?;
    Some(queue.close())
}

/// In a child made by `fork()`: forgets the parent's queues (their memory is leaked, as the
/// calls' is: their calls' task handles belong to the parent's runtime) and closes the child's
/// copies of both ends of their pipes. Only async-signal-safe work.
#[cfg(unix)]
pub(crate) fn forget_in_child(table: &mut QueueTable) {
    if let Some(live) = table.take() {
        for queue in live.values() {
            queue.pipe.release();
        }
        std::mem::forget(live);
    }
}

#[cfg(target_os = "linux")]
mod wake {
    use std::ffi::{c_int, c_void};

    extern "C" {
        fn pipe2(fds: *mut c_int, flags: c_int) -> c_int;
        fn read(fd: c_int, buf: *mut c_void, count: usize) -> isize;
        fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
        fn close(fd: c_int) -> c_int;
    }

    // Linux's values (asm-generic and x86 alike).
    const O_NONBLOCK: c_int = 0o4000;
    const O_CLOEXEC: c_int = 0o2000000;

    /// A queue's pipe: the host watches (or reads) `read`; only the queue writes `write`.
    pub(super) struct Pipe {
        pub(super) read: i32,
        write: i32,
    }

    impl Pipe {
        pub(super) fn open() -> Option<Pipe> {
            let mut fds: [c_int; 2] = [-1, -1];
            // SAFETY: `fds` is a live array of the two ints pipe2 writes.
            let made = unsafe { pipe2(fds.as_mut_ptr(), O_NONBLOCK | O_CLOEXEC) };
            (made == 0).then_some(Pipe { read: fds[0], write: fds[1] })
        }

        /// Makes the read end readable. Never blocks, and never raises SIGPIPE: the read end is
        /// open while the queue is, and a closed queue writes nothing.
        pub(super) fn signal(&self) {
            let byte = 1u8;
            // SAFETY: writes one byte from a live local to the queue's own nonblocking fd. It
            // fails only when the pipe is full (EAGAIN: it is readable already) or for a bad fd;
            // neither loses a wake-up.
            let _ = unsafe { write(self.write, (&byte as *const u8).cast(), 1) };
        }

        /// Empties the pipe: reads until a read comes back short (the pipe is empty then, and
        /// only the queue, under its lock, writes it) or fails (EAGAIN: a host took the byte).
        pub(super) fn clear(&self) {
            let mut buf = [0u8; 64];
            loop {
                // SAFETY: reads at most `buf.len()` bytes into a live local; nonblocking.
                let n = unsafe { read(self.read, buf.as_mut_ptr().cast(), buf.len()) };
                if n < buf.len() as isize {
                    break;
                }
            }
        }

        /// Closes both ends; the write end first, so no write can meet a closed read end.
        pub(super) fn release(&self) {
            for fd in [self.write, self.read] {
                if fd >= 0 {
                    // SAFETY: the fds are the queue's own, closed once (on drop, or in a fork's
                    // child, which forgets the queue instead of dropping it).
                    let _ = unsafe { close(fd) };
                }
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod wake {
    /// No pipe2 on this platform: `liter_llm_queue_new()` fails.
    pub(super) struct Pipe {
        pub(super) read: i32,
    }

    impl Pipe {
        pub(super) fn open() -> Option<Pipe> {
            None
        }
        pub(super) fn signal(&self) {}
        pub(super) fn clear(&self) {}
        pub(super) fn release(&self) {}
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    extern "C" {
        fn poll(fds: *mut PollFd, nfds: u64, timeout: i32) -> i32;
        fn read(fd: i32, buf: *mut std::ffi::c_void, count: usize) -> isize;
    }

    #[repr(C)]
    struct PollFd {
        fd: i32,
        events: i16,
        revents: i16,
    }

    /// Whether the fd is readable now, as an event loop sees it (reads nothing).
    fn readable(fd: i32) -> bool {
        const POLLIN: i16 = 1;
        let mut p = PollFd { fd, events: POLLIN, revents: 0 };
        // SAFETY: one live pollfd, no wait.
        unsafe { poll(&mut p, 1, 0) == 1 }
    }

    /// Reads what the pipe holds, as a host whose event loop reads the fd does; how many bytes.
    fn take_bytes(fd: i32) -> isize {
        let mut buf = [0u8; 16];
        // SAFETY: reads at most 16 bytes into a live local; the fd is nonblocking.
        unsafe { read(fd, buf.as_mut_ptr().cast(), buf.len()) }
    }

    fn event(tag: u64) -> Ready {
        let data = std::ffi::CString::new(format!("{{\"tag\":{tag}}}")).unwrap();
        let len = data.as_bytes().len() as i32;
        Ready::new(tag, data.into_raw(), len)
    }

    #[test]
    fn the_fd_is_readable_exactly_while_events_wait() {
        let (handle, fd) = create().expect("a pipe");
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
        let (handle, _fd) = create().expect("a pipe");
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

    /// A thread that starts and ends `total` calls on the queue, one event each, as fast as it can.
    fn produce(queue: &Arc<CompletionQueue>, total: u64) -> std::thread::JoinHandle<()> {
        let queue = queue.clone();
        std::thread::spawn(move || {
            for tag in 0..total {
                assert!(queue.track(tag));
                queue.push(tag, true, event(tag));
            }
        })
    }

    #[test]
    fn a_push_racing_drains_never_loses_a_wake_up() {
        let (handle, fd) = create().expect("a pipe");
        let queue = find(handle).unwrap();
        let total = 20_000u64;
        let producer = produce(&queue, total);
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

    #[test]
    fn a_host_that_reads_the_pipe_and_drains_until_short_never_loses_a_wake_up() {
        let (handle, fd) = create().expect("a pipe");
        let queue = find(handle).unwrap();
        let total = 20_000u64;
        let capacity = 3;
        let producer = produce(&queue, total);
        let mut seen = 0u64;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while seen < total {
            assert!(std::time::Instant::now() < deadline, "drained {seen} of {total}");
            if readable(fd) {
                // One byte per empty → non-empty transition, whatever the number of events.
                assert_eq!(take_bytes(fd), 1);
                loop {
                    let n = queue.drain(capacity, |_, _| ());
                    seen += n as u64;
                    if n < capacity {
                        break;
                    }
                }
            }
        }
        producer.join().unwrap();
        assert!(!readable(fd));
        assert_eq!(take_bytes(fd), -1, "an empty pipe (EAGAIN)");
        remove(handle);
    }
}
