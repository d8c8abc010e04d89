//! Snapshot after `open()` for sandboxes ([`crate::Options::snapshot`]): the linear memory of a
//! sandbox that ran the loads and `open()`, kept as a copy-on-write image that later sandboxes
//! map over their own memory instead of running the files and `open()` again.
//!
//! wasmtime does not expose a component's core memory, so sandboxes of snapshotting sets use
//! linear memories the host allocates ([`HostMemories`], `Config::with_host_memory`): the host
//! then knows where each one is. What a restore relies on, and checks where it can:
//! - the memory is the whole state. The guest's mutable wasm globals are the stack pointer
//!   (back at its base between calls) and values set once at instantiation; tables do not
//!   change after instantiation (no `dlopen`). `experiments/snapshot/` compared all 493 globals
//!   and both tables of a fresh sandbox and one after load + `open()`: none differ.
//! - the WASI handles the image's libc holds exist in the new sandbox at the same indices: both
//!   are primed the same way before anything else runs (stdout, and `/deps` when granted, taken
//!   first), and a sandbox holding any other handle at snapshot time is not snapshotted
//!   ([`Image::handles`] must equal the fresh sandbox's count).
//! - the new sandbox's memory is at least as large as the image (the guest grows it), so the
//!   allocator in the image never hands out memory the sandbox does not have.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Where a host-allocated linear memory is, and its current size.
pub(crate) struct MemoryRegion {
    base: usize,
    size: AtomicUsize,
}

impl MemoryRegion {
    pub fn size(&self) -> usize {
        self.size.load(Ordering::Acquire)
    }
}

thread_local! {
    /// Memories made on this thread since [`take_created`] last ran: instantiation creates a
    /// sandbox's memories on the thread that drives it, so these are that sandbox's.
    static CREATED: std::cell::RefCell<Vec<Arc<MemoryRegion>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The memories [`HostMemories`] made on this thread since the last call.
pub(crate) fn take_created() -> Vec<Arc<MemoryRegion>> {
    CREATED.with(|created| std::mem::take(&mut *created.borrow_mut()))
}

/// A linear memory in a reservation the host mapped: it never moves, the first `size` bytes
/// are read-write, the rest and the guard region after it are inaccessible.
struct HostMemory {
    region: Arc<MemoryRegion>,
    reserved: usize,
    mapped: usize,
}

impl Drop for HostMemory {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new_memory`, which wasmtime no longer uses.
        unsafe { libc::munmap(self.region.base as *mut libc::c_void, self.mapped) };
    }
}

// SAFETY: the memory stays at `base` for its whole life, `reserved` bytes are reserved there
// (growth never moves it) and the first `byte_size()` bytes are read-write.
unsafe impl wasmtime::LinearMemory for HostMemory {
    fn byte_size(&self) -> usize {
        self.region.size()
    }

    fn byte_capacity(&self) -> usize {
        self.reserved
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        let old = self.region.size();
        if new_size > self.reserved {
            wasmtime::bail!("a linear memory cannot grow beyond its reservation");
        }
        if new_size > old {
            // SAFETY: [old, new_size) lies inside the reservation.
            let status = unsafe {
                libc::mprotect(
                    (self.region.base + old) as *mut libc::c_void,
                    new_size - old,
                    libc::PROT_READ | libc::PROT_WRITE,
                )
            };
            if status != 0 {
                wasmtime::bail!("cannot grow a linear memory: {}", std::io::Error::last_os_error());
            }
        }
        self.region.size.store(new_size, Ordering::Release);
        Ok(())
    }

    fn as_ptr(&self) -> *mut u8 {
        self.region.base as *mut u8
    }
}

/// Makes the linear memories of a snapshotting engine.
pub(crate) struct HostMemories;

// SAFETY: every memory honours the reservation and guard sizes wasmtime asks for, zero-filled.
unsafe impl wasmtime::MemoryCreator for HostMemories {
    fn new_memory(
        &self,
        _ty: wasmtime::MemoryType,
        minimum: usize,
        _maximum: Option<usize>,
        reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn wasmtime::LinearMemory>, String> {
        let reserved = reserved_size_in_bytes.unwrap_or(4 << 30).max(minimum);
        let mapped = reserved.checked_add(guard_size_in_bytes).ok_or("a linear memory too large to reserve")?;
        // SAFETY: a fresh anonymous reservation, of which the first `minimum` bytes become
        // read-write (anonymous pages are zero-filled).
        let base = unsafe {
            let base = libc::mmap(
                std::ptr::null_mut(),
                mapped,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            );
            if base == libc::MAP_FAILED {
                return Err(format!("cannot reserve a linear memory: {}", std::io::Error::last_os_error()));
            }
            if minimum > 0 && libc::mprotect(base, minimum, libc::PROT_READ | libc::PROT_WRITE) != 0 {
                let error = std::io::Error::last_os_error();
                libc::munmap(base, mapped);
                return Err(format!("cannot make a linear memory: {error}"));
            }
            base as usize
        };
        let region = Arc::new(MemoryRegion { base, size: AtomicUsize::new(minimum) });
        CREATED.with(|created| created.borrow_mut().push(region.clone()));
        Ok(Box::new(HostMemory { region, reserved, mapped }))
    }
}

/// A sandbox's linear memory after its loads and `open()`, in an in-memory file.
pub(crate) struct Image {
    file: File,
    size: usize,
    /// How many of the pool's loads it holds.
    pub loaded: usize,
    /// WASI handles the sandbox held when it was taken.
    pub handles: usize,
}

impl Image {
    /// Copies `region` (of a sandbox no guest code runs in) into a new image.
    pub fn capture(region: &MemoryRegion, loaded: usize, handles: usize) -> std::io::Result<Image> {
        let size = region.size();
        // SAFETY: a plain syscall; the descriptor it returns is owned by the `File` below.
        let fd = unsafe { libc::memfd_create(c"udfbox-snapshot".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor nothing else owns.
        let mut file = unsafe { File::from_raw_fd(fd) };
        // SAFETY: the region's first `size` bytes are read-write memory of a sandbox that no
        // guest code runs in while the caller holds it.
        let bytes = unsafe { std::slice::from_raw_parts(region.base as *const u8, size) };
        file.write_all(bytes)?;
        Ok(Image { file, size, loaded, handles })
    }

    /// Bytes of linear memory the image holds (and the in-memory file keeps per function).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Maps the image copy-on-write over the first bytes of `region`, which must be at least as
    /// large. The pages are shared with the image until the sandbox writes them.
    ///
    /// # Safety
    /// No guest code may run in the sandbox owning `region` meanwhile, and what the sandbox
    /// runs next must be able to continue from the image (see the module documentation).
    pub unsafe fn map_over(&self, region: &MemoryRegion) -> std::io::Result<()> {
        if region.size() < self.size {
            return Err(std::io::Error::other("the sandbox's memory is smaller than the snapshot"));
        }
        // SAFETY: [base, base + size) is read-write linear memory inside the region's own
        // reservation; MAP_FIXED replaces those pages and nothing else.
        let mapped = unsafe {
            libc::mmap(
                region.base as *mut libc::c_void,
                self.size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_FIXED,
                self.file.as_raw_fd(),
                0,
            )
        };
        if mapped as usize != region.base {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::MemoryCreator;

    #[test]
    fn an_image_maps_over_a_host_memory_and_writes_stay_private() {
        let memories = HostMemories;
        let ty = wasmtime::MemoryType::new(1, None);
        let mut source = memories.new_memory(ty.clone(), 65536, None, Some(1 << 20), 65536).unwrap();
        let source_region = take_created().pop().unwrap();
        // SAFETY: the first 64 KiB are read-write.
        unsafe { std::ptr::write_bytes(source.as_ptr(), 7, 65536) };
        source.grow_to(131072).unwrap();
        // SAFETY: grown above.
        unsafe { *source.as_ptr().add(100_000) = 9 };
        let image = Image::capture(&source_region, 1, 1).unwrap();
        assert_eq!(image.size(), 131072);

        let mut target = memories.new_memory(ty, 65536, None, Some(1 << 20), 65536).unwrap();
        let target_region = take_created().pop().unwrap();
        // SAFETY: nothing runs in either memory.
        assert!(unsafe { image.map_over(&target_region) }.is_err(), "a smaller memory is refused");
        target.grow_to(196608).unwrap();
        unsafe { image.map_over(&target_region) }.unwrap();
        // SAFETY: the target's first 192 KiB are read-write.
        let bytes = unsafe { std::slice::from_raw_parts_mut(target.as_ptr(), 196608) };
        assert_eq!((bytes[0], bytes[65535], bytes[100_000], bytes[131071]), (7, 7, 9, 0));
        bytes[0] = 1;
        // SAFETY: as above.
        assert_eq!(unsafe { *source.as_ptr() }, 7, "the source does not see the target's write");
        // A second target from the same image starts from the image, not the first target.
        let mut second = memories.new_memory(wasmtime::MemoryType::new(2, None), 131072, None, Some(1 << 20), 65536);
        let second = second.as_mut().unwrap();
        let second_region = take_created().pop().unwrap();
        unsafe { image.map_over(&second_region) }.unwrap();
        assert_eq!(unsafe { *second.as_ptr() }, 7);
    }
}
