//! The embedded precompiled guest run where it lies in the binary.
//!
//! `Component::deserialize` copies its input into fresh memory before
//! making its code executable: for the 4.3 MB guest, half of `poof
//! version`'s time (a copy, a thousand page faults, two `mprotect`s) and
//! 4.3 MB of resident memory for the whole run. The embedded copy already
//! lies in pages of its own (`main.rs` places its machine code on a 4 KiB
//! boundary) that are a read-only, private mapping of the binary's file, so
//! on Linux with 4 KiB pages wasmtime is given those bytes
//! (`Component::deserialize_raw`) and this module makes their code section
//! executable in place. Any other case, or any refusal, leaves the copying
//! path in `super` to run as before.

use std::ops::Range;
use std::ptr::NonNull;
use std::sync::Arc;

use anyhow::{Context, Result};
use wasmtime::component::Component;
use wasmtime::{CustomCodeMemory, Engine};

/// The page size the in-place path runs on, and the alignment of the
/// embedded machine code (`main.rs`). wasmtime aligns the code section
/// inside its image to at least this, so the section's start is aligned too.
pub const PAGE: usize = 4096;

/// Loads the embedded precompiled guest `image` (untagged: wasmtime's
/// bytes only) in place, with an engine of `config`, or says why not.
///
/// # Safety
///
/// `image` must be read-only data of this binary (`include_bytes!` in a
/// `static`), produced by `Engine::precompile_component` of this wasmtime
/// (the safety contract of `super::deserialize`).
#[allow(unsafe_code)]
pub unsafe fn load(
    mut config: wasmtime::Config,
    image: &'static [u8],
) -> Result<(Engine, Component)> {
    if !cfg!(target_os = "linux") {
        anyhow::bail!("the guest runs in place on Linux only");
    }
    let page = crate::alloc::page_size();
    if page != PAGE {
        anyhow::bail!("the pages are {page} bytes, not {PAGE}");
    }
    if !(image.as_ptr() as usize).is_multiple_of(PAGE) {
        anyhow::bail!("the embedded precompiled guest does not start on a page");
    }
    let start = image.as_ptr() as usize;
    config.with_custom_code_memory(Some(Arc::new(InPlace {
        image: start..start + image.len(),
    })));
    let engine = wasmtime::Engine::new(&config)?;
    // SAFETY: the caller's contract: machine code this wasmtime produced,
    // which is the binary's read-only data. It lives as long as the process
    // and nothing writes it: the mapping is read-only, and `InPlace` only
    // ever adds execution to part of it, or takes it back.
    let component = unsafe { Component::deserialize_raw(&engine, NonNull::from(image)) };
    let component = component
        .map_err(anyhow::Error::from)
        .context("wasmtime refused the precompiled guest in place")?;
    Ok((engine, component))
}

/// Makes the code section of the embedded image executable where it lies,
/// and nothing else: code wasmtime would compile and publish at run time
/// is refused (it needs wasmtime's own publishing, with its cache
/// maintenance on other architectures), so the image is the only code this
/// engine runs.
struct InPlace {
    /// The addresses of the embedded image.
    image: Range<usize>,
}

impl InPlace {
    /// Sets the protection of `[ptr, ptr + len)`, which must lie in the image.
    fn protect(&self, ptr: *const u8, len: usize, prot: libc::c_int) -> wasmtime::Result<()> {
        // mprotect acts on whole pages: the last one touched must end
        // inside the image too.
        let start = ptr as usize;
        let inside = start >= self.image.start
            && start
                .checked_add(len)
                .and_then(|end| end.checked_next_multiple_of(PAGE))
                .is_some_and(|end| end <= self.image.end);
        if !inside {
            wasmtime::bail!("only the embedded precompiled guest runs in place");
        }
        // SAFETY: the pages of [ptr, ptr + len) lie in the embedded image
        // (checked above), whose bytes nothing writes and which holds only
        // wasmtime's image of the guest. Changing between read and
        // read-execute never makes them writable.
        #[allow(unsafe_code)]
        let done = unsafe { libc::mprotect(ptr.cast_mut().cast(), len, prot) };
        if done != 0 {
            let err = std::io::Error::last_os_error();
            wasmtime::bail!("mprotect of the embedded guest's code: {err}");
        }
        Ok(())
    }
}

impl CustomCodeMemory for InPlace {
    fn required_alignment(&self) -> usize {
        PAGE
    }

    fn publish_executable(&self, ptr: *const u8, len: usize) -> wasmtime::Result<()> {
        self.protect(ptr, len, libc::PROT_READ | libc::PROT_EXEC)
    }

    fn unpublish_executable(&self, ptr: *const u8, len: usize) -> wasmtime::Result<()> {
        // Back to what the binary's mapping gave: read-only.
        self.protect(ptr, len, libc::PROT_READ)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::engine::{Compiled, Guest, Limits, Runtime, TAG_LEN, config, test_guest};

    /// `bytes` copied into fresh pages that are then made read-only and
    /// never unmapped: what the binary's read-only data is to `load`.
    fn read_only_pages(bytes: &[u8], offset: usize) -> &'static [u8] {
        let len = (offset + bytes.len()).next_multiple_of(PAGE);
        // SAFETY: a fresh private anonymous mapping, written once below,
        // then read-only for the rest of the process (never unmapped).
        #[allow(unsafe_code)]
        unsafe {
            let at = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(at, libc::MAP_FAILED);
            let start = at.cast::<u8>().add(offset);
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), start, bytes.len());
            assert_eq!(libc::mprotect(at, len, libc::PROT_READ), 0);
            std::slice::from_raw_parts(start, bytes.len())
        }
    }

    #[test]
    fn a_precompiled_guest_on_its_own_pages_runs_where_it_lies() -> Result<()> {
        let tagged = test_guest().precompile()?;
        let image = read_only_pages(&tagged[TAG_LEN..], 0);
        // SAFETY: what this wasmtime precompiled, in pages nothing writes.
        #[allow(unsafe_code)]
        let (engine, component) = unsafe { load(config(), image)? };
        // Its code is executable where it lies, and nowhere else was made so.
        let text = std::fs::read_to_string("/proc/self/maps")?
            .lines()
            .filter(|l| {
                let range = l.split(' ').next().unwrap_or("");
                let (a, b) = range.split_once('-').unwrap_or(("0", "0"));
                let a = usize::from_str_radix(a, 16).unwrap_or(0);
                let b = usize::from_str_radix(b, 16).unwrap_or(0);
                a >= image.as_ptr() as usize && b <= image.as_ptr() as usize + image.len() + PAGE
            })
            .map(|l| l.split(' ').nth(1).unwrap_or("").to_string())
            .collect::<Vec<_>>();
        assert!(text.iter().any(|p| p == "r-xp"), "{text:?}");
        assert!(text.iter().all(|p| p == "r-xp" || p == "r--p"), "{text:?}");
        // And it runs.
        let runtime = Runtime::link(engine, &component, Compiled::InPlace)?;
        let info = runtime.instantiate(Limits::DEFAULT)?.info()?;
        assert!(info.contract.starts_with("poof:core@"), "{}", info.contract);

        // Through `Guest`: a guest whose precompiled copy is not the
        // binary's own is never run in place.
        let wasm = test_guest().wasm();
        let guest = Guest::in_memory(wasm, read_only_pages(&tagged, PAGE - TAG_LEN));
        assert_eq!(guest.compiled()?, Compiled::Precompiled);
        Ok(())
    }

    #[test]
    fn a_precompiled_guest_off_a_page_is_refused_not_run() -> Result<()> {
        let tagged = test_guest().precompile()?;
        let image = read_only_pages(&tagged[TAG_LEN..], 8);
        // SAFETY: as above; `load` refuses it before wasmtime reads it.
        #[allow(unsafe_code)]
        let Err(refused) = (unsafe { load(config(), image) }) else {
            anyhow::bail!("an image off a page boundary was loaded in place");
        };
        assert!(format!("{refused:#}").contains("does not start on a page"));
        Ok(())
    }

    #[test]
    fn only_the_image_is_ever_made_executable() {
        let image = read_only_pages(&[0xC3; 2 * PAGE + 100], 0);
        let start = image.as_ptr() as usize;
        let memory = InPlace {
            image: start..start + image.len(),
        };
        // Beyond the image's last page, or before it: refused.
        let after = (start + 2 * PAGE) as *const u8;
        assert!(memory.publish_executable(after, PAGE).is_err());
        // The image's last, partial page: its rest is not the image's.
        assert!(memory.publish_executable(after, 100).is_err());
        let before = (start - PAGE) as *const u8;
        assert!(memory.publish_executable(before, PAGE).is_err());
        assert!(
            memory
                .publish_executable(image.as_ptr(), usize::MAX)
                .is_err()
        );
        // Inside: done, and undone.
        memory.publish_executable(image.as_ptr(), PAGE).unwrap();
        memory.unpublish_executable(image.as_ptr(), PAGE).unwrap();
        assert_eq!(image[PAGE + 1], 0xC3);
    }
}
