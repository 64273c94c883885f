//! A counting semaphore shared between processes: a POSIX unnamed semaphore (`sem_init` with
//! `pshared = 1`) placed in shared memory before fork. The futex underneath works across
//! processes; the permits are counted in the shared page itself.

use std::cell::UnsafeCell;

use nix::errno::Errno;

use crate::error::{Error, Result};
use crate::shm::{Shared, ShmSafe};

/// The C object, behind `UnsafeCell`: `sem_post`/`sem_wait` mutate it through a shared
/// reference, which only interior mutability makes legal.
#[repr(transparent)]
struct RawSem(UnsafeCell<libc::sem_t>);

// SAFETY: sem_t is designed for concurrent use; every access goes through the sem_* calls.
unsafe impl Sync for RawSem {}
// SAFETY: zero bytes are valid storage for a sem_t, and `Semaphore::new` runs `sem_init` with
// pshared = 1 before any use and before any fork, which makes it valid across processes.
unsafe impl ShmSafe for RawSem {}

pub struct Semaphore {
    sem: Shared<RawSem>,
}

impl Semaphore {
    /// A semaphore with `permits` permits, usable by this process and every child forked later.
    pub fn new(permits: u32) -> Result<Semaphore> {
        let sem: Shared<RawSem> = Shared::new()?;
        // SAFETY: valid shared memory sized for a sem_t, initialised exactly once here, before
        // any other use and before any fork.
        let rc = unsafe { libc::sem_init(sem.0.get(), 1, permits) };
        if rc != 0 {
            return Err(Error::Semaphore(Errno::last()));
        }
        Ok(Semaphore { sem })
    }

    fn raw(&self) -> *mut libc::sem_t {
        self.sem.0.get()
    }

    /// Takes a permit if one is free, without blocking.
    pub fn try_acquire(&self) -> Result<bool> {
        // SAFETY: an initialised process-shared semaphore (see `new`).
        if unsafe { libc::sem_trywait(self.raw()) } == 0 {
            return Ok(true);
        }
        match Errno::last() {
            Errno::EAGAIN | Errno::EINTR => Ok(false),
            e => Err(Error::Semaphore(e)),
        }
    }

    /// Takes a permit, blocking until one is free. A signal handler that runs meanwhile does not
    /// end the wait (it resumes); a process that must stop waiting is woken by a `release` from
    /// whoever asks it to stop — a permit, unlike a signal, cannot arrive "just before the wait"
    /// and be lost.
    pub fn acquire(&self) -> Result<()> {
        loop {
            // SAFETY: an initialised process-shared semaphore (see `new`).
            if unsafe { libc::sem_wait(self.raw()) } == 0 {
                return Ok(());
            }
            match Errno::last() {
                Errno::EINTR => {}
                e => return Err(Error::Semaphore(e)),
            }
        }
    }

    /// Gives a permit back.
    pub fn release(&self) -> Result<()> {
        // SAFETY: an initialised process-shared semaphore (see `new`).
        if unsafe { libc::sem_post(self.raw()) } == 0 {
            Ok(())
        } else {
            Err(Error::Semaphore(Errno::last()))
        }
    }

    /// Permits currently free.
    pub fn available(&self) -> Result<i32> {
        let mut value = 0;
        // SAFETY: an initialised semaphore and a valid out-pointer.
        if unsafe { libc::sem_getvalue(self.raw(), &mut value) } == 0 {
            Ok(value)
        } else {
            Err(Error::Semaphore(Errno::last()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_are_counted() {
        let sem = Semaphore::new(2).unwrap();
        assert!(sem.try_acquire().unwrap());
        assert!(sem.try_acquire().unwrap());
        assert!(!sem.try_acquire().unwrap(), "a third permit must not exist");
        assert_eq!(sem.available().unwrap(), 0);
        sem.release().unwrap();
        assert_eq!(sem.available().unwrap(), 1);
        assert!(sem.try_acquire().unwrap());
    }

    #[test]
    fn acquire_takes_a_free_permit_and_release_gives_it_back() {
        let sem = Semaphore::new(1).unwrap();
        sem.acquire().unwrap();
        assert_eq!(sem.available().unwrap(), 0);
        sem.release().unwrap();
        sem.acquire().unwrap();
        assert!(!sem.try_acquire().unwrap());
    }
}
