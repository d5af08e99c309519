use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;
use trailscan::{cli::Cli, cmd, config::Config, messages};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    /// mimalloc's option setter (`mimalloc.h`), linked in by `libmimalloc-sys`.
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (libmimalloc-sys 0.1.49, pinned in Cargo.toml).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// Keeps the process's memory in ordinary 4 KiB pages. mimalloc asks the kernel for transparent huge pages
/// on the memory it reserves, and returns freed memory in 64 KiB pieces: a returned piece of a huge page
/// touched again is faulted back in as a whole new 2 MiB page, zeroed. On a million records that zeroing
/// was 8% of the run's time, and the huge pages held about 25 MiB that nothing used (15% of the peak).
#[cfg(target_os = "linux")]
fn small_pages_only() {
    // SAFETY: prctl with integer arguments only; it sets a flag of this process and touches no memory of ours.
    // It fails only on kernels without the option (before Linux 3.15), which then keep their default.
    let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}

#[cfg(not(target_os = "linux"))]
fn small_pages_only() {}

fn main() -> ExitCode {
    // mimalloc v3 keeps freed memory for a second before returning it to the system. A run frees big blocks
    // all the time (growing vectors, per-file buffers), and that second held about 80 MB more at the peak
    // on a million records; 10 ms returns it with no measurable cost in time.
    // SAFETY: a plain C call with an option id and value, made before any thread exists.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 10) };
    small_pages_only();
    let cli = Cli::parse();
    let result = Config::resolve(cli, std::io::stdout().is_terminal()).and_then(cmd::run);
    match result {
        Ok(code) => code,
        // A closed pipe (`trailscan sessions | head`) is the reader's choice, not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            messages::fatal(&e);
            ExitCode::from(cmd::EXIT_ERROR)
        }
    }
}
