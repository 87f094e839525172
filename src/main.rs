//! Thin binary: everything lives in the library (see `lib.rs` for the tour).
#![forbid(unsafe_code)]

/// The request path allocates many small, short-lived objects (the AWS SDK's request pipeline
/// above all); mimalloc serves them measurably faster than glibc's malloc under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    rolegate::cli::run()
}
