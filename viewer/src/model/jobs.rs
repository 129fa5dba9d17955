//! Work off the main thread, one job at a time: starting a job cancels the one before it,
//! which stops at its next check, and the new one waits until it has.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What a job tells the main thread.
#[derive(Debug)]
pub enum Update<T> {
    /// How far it got, a fraction.
    Progress(f64),
    /// Part of the result, shown while the rest is computed.
    Partial(T),
    Done(T),
}

/// Starts jobs on threads of their own, one running at a time.
#[derive(Clone, Default)]
pub struct Jobs {
    /// The number of the newest job; older ones are cancelled.
    newest: Arc<AtomicU64>,
    /// Held by the running job.
    running: Arc<Mutex<()>>,
}

/// What a running job sees of the world.
pub struct Ticket<T> {
    number: u64,
    newest: Arc<AtomicU64>,
    updates: async_channel::Sender<Update<T>>,
}

impl<T> Ticket<T> {
    /// Whether a newer job has been started.
    pub fn cancelled(&self) -> bool {
        self.newest.load(Ordering::SeqCst) != self.number
    }

    /// Hands the main thread part of the result (unless the job was cancelled).
    pub fn partial(&self, part: T) {
        if !self.cancelled() {
            let _ = self.updates.try_send(Update::Partial(part));
        }
    }

    /// Tells the main thread how far the job got; false when it should stop.
    pub fn progress(&self, done: f64) -> bool {
        let _ = self.updates.try_send(Update::Progress(done));
        !self.cancelled()
    }
}

impl Jobs {
    /// Runs `work` on a thread, cancelling the job before it; its progress and its result
    /// (unless it was cancelled: `work` returned `None` or a newer job started) arrive on the
    /// returned channel.
    pub fn start<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Ticket<T>) -> Option<T> + Send + 'static,
    ) -> async_channel::Receiver<Update<T>> {
        let number = self.newest.fetch_add(1, Ordering::SeqCst) + 1;
        let (tx, rx) = async_channel::unbounded();
        let ticket = Ticket {
            number,
            newest: self.newest.clone(),
            updates: tx,
        };
        let running = self.running.clone();
        std::thread::spawn(move || {
            let _one = running.lock().unwrap_or_else(|e| e.into_inner());
            if ticket.cancelled() {
                return;
            }
            if let Some(result) = work(&ticket) {
                if !ticket.cancelled() {
                    let _ = ticket.updates.try_send(Update::Done(result));
                }
            }
        });
        rx
    }

    /// Cancels the running job, if any.
    pub fn cancel(&self) {
        self.newest.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_newer_job_cancels_the_older_and_only_it_finishes() {
        let jobs = Jobs::default();
        let first = jobs.start(|t: &Ticket<&str>| {
            // Runs until it is cancelled.
            while t.progress(0.5) {
                std::thread::sleep(Duration::from_millis(1));
            }
            Some("first")
        });
        std::thread::sleep(Duration::from_millis(20));
        let second = jobs.start(|_: &Ticket<&str>| Some("second"));
        let done = |rx: async_channel::Receiver<Update<&'static str>>| {
            let mut out = None;
            while let Ok(u) = rx.recv_blocking() {
                if let Update::Done(v) = u {
                    out = Some(v);
                }
            }
            out
        };
        assert_eq!(done(second), Some("second"));
        assert_eq!(done(first), None);
    }
}
