//! Thin binary: everything lives in the library (see `lib.rs` for the tour).
#![forbid(unsafe_code)]

/// The request path allocates many small, short-lived objects (the AWS SDK's request pipeline
/// above all); mimalloc serves them measurably faster than glibc's malloc under load. The
/// engineer's build (`cli`), a short-lived process, keeps the system allocator.
#[cfg(feature = "server")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    rolegate::cli::run()
}
