//! Thin binary: everything lives in the library (see `lib.rs` for the tour).
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    rolegate::cli::run()
}
