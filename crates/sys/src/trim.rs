//! Giving back memory a long-lived process used only while it started: the per-container
//! monitor lives as long as its container, so what it touched while building the container (the
//! spec, the image config, deep call chains) would otherwise stay resident for days.

/// Returns freed heap to the kernel and drops the stack pages below the caller's frame (minus a
/// margin for the calls it makes from here on). Only call it from the main thread.
pub fn trim_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases memory the allocator holds free.
    unsafe {
        libc::malloc_trim(0);
    }
    let _ = trim_stack(16 * 1024);
}

/// `MADV_DONTNEED` on the main stack from its lowest mapped page up to `margin` bytes below the
/// current frame: those pages hold only dead frames, and the kernel hands back zero pages if a
/// later call goes that deep again.
fn trim_stack(margin: usize) -> std::io::Result<()> {
    let here = &margin as *const usize as usize;
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let Some(line) = maps.lines().find(|l| l.ends_with("[stack]")) else {
        return Ok(());
    };
    let range = line.split_whitespace().next().unwrap_or_default();
    let (lo, hi) = range.split_once('-').unwrap_or_default();
    let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16)) else {
        return Ok(());
    };
    if !(lo..hi).contains(&here) {
        return Ok(()); // not on the main thread's stack
    }
    let end = here.saturating_sub(margin) & !4095;
    if end <= lo {
        return Ok(());
    }
    // SAFETY: the range lies in our own stack mapping, below every live frame plus a margin.
    if unsafe { libc::madvise(lo as *mut libc::c_void, end - lo, libc::MADV_DONTNEED) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
