//! The one owner of guest instances for a run: every instance the host uses
//! comes from here, so an auditor finds in one place how many exist, who
//! holds them and for how long.
//!
//! Invariants: instances are created only by `Pool` (the guest is compiled
//! once per process, `Guest::runtime`); a leased instance goes back to the
//! pool when its lease ends and is given out again, so its state (none that
//! matters: the guest keeps nothing between plain calls) is reused; an
//! instance that holds state for the whole run (a key, sessions) is taken
//! for good with `take`, never returned, and dropped with its holder.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;

use super::{Guest, Instance};

/// The guest instances of one run.
pub struct Pool {
    guest: &'static Guest,
    idle: Mutex<Vec<Instance>>,
    created: AtomicUsize,
}

/// An instance borrowed from the pool; it goes back when dropped.
pub struct Lease<'a> {
    pool: &'a Pool,
    inst: Option<Instance>,
}

impl Pool {
    /// A pool of instances of `guest`; nothing is instantiated yet.
    pub fn new(guest: &'static Guest) -> Self {
        Pool {
            guest,
            idle: Mutex::new(Vec::new()),
            created: AtomicUsize::new(0),
        }
    }

    /// The pool of a whole run, for the life of the process.
    pub fn for_run(guest: &'static Guest) -> &'static Pool {
        Box::leak(Box::new(Pool::new(guest)))
    }

    fn fresh(&self) -> Result<Instance> {
        let inst = self.guest.instantiate()?;
        self.created.fetch_add(1, Ordering::Relaxed);
        Ok(inst)
    }

    /// Borrows an idle instance, or creates one.
    pub fn lease(&self) -> Result<Lease<'_>> {
        let idle = self
            .idle
            .lock()
            .expect("no panics while the pool is locked")
            .pop();
        let inst = match idle {
            Some(i) => i,
            None => self.fresh()?,
        };
        Ok(Lease {
            pool: self,
            inst: Some(inst),
        })
    }

    /// Takes an instance for good, for a holder that keeps state in it for
    /// the rest of the run (an unlocked key, the sessions of a remote).
    pub fn take(&self) -> Result<Instance> {
        let idle = self
            .idle
            .lock()
            .expect("no panics while the pool is locked")
            .pop();
        match idle {
            Some(i) => Ok(i),
            None => self.fresh(),
        }
    }

    /// How many instances this pool has created so far.
    pub fn created(&self) -> usize {
        self.created.load(Ordering::Relaxed)
    }
}

impl Deref for Lease<'_> {
    type Target = Instance;

    fn deref(&self) -> &Instance {
        self.inst.as_ref().expect("a lease holds its instance")
    }
}

impl DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut Instance {
        self.inst.as_mut().expect("a lease holds its instance")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.inst.take() {
            self.pool
                .idle
                .lock()
                .expect("no panics while the pool is locked")
                .push(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_reuse_instances_and_takes_keep_them() {
        let pool = Pool::new(crate::engine::test_guest());
        {
            let mut a = pool.lease().unwrap();
            assert!(!a.info().unwrap().version.is_empty());
            let _b = pool.lease().unwrap();
            assert_eq!(pool.created(), 2);
        }
        let _c = pool.lease().unwrap();
        let _d = pool.lease().unwrap();
        assert_eq!(pool.created(), 2, "both went back and were reused");
        let _kept = pool.take().unwrap();
        assert_eq!(pool.created(), 3);
    }
}
