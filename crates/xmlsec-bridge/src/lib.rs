//! The one place rolegate calls libxmlsec1 directly (samael parses and decrypts; this crate
//! verifies), kept small so that every `unsafe` block can be read in one sitting, and the main
//! crate keeps `#![forbid(unsafe_code)]`.
//!
//! - [`PinnedKeys`]: an IdP's signing keys, loaded into xmlsec once (per metadata load or
//!   refresh), shared by every worker; each verification duplicates them (a reference count),
//!   instead of decoding certificates again for every Response.
//! - [`verify_signatures`]: every `ds:Signature` of a document verified with one of those keys —
//!   never a key the document carries (its KeyInfo is not read) — with xmlsec restricted to the
//!   algorithms the caller allows and to same-document References; returns the exact canonical
//!   bytes each Reference's digest covered.
//! - [`capture_errors`]/[`take_errors`]: xmlsec's error reports, which it would print to stderr,
//!   kept per thread for one structured log event.
//!
//! C struct fields are reached through `shim/verify.c`, compiled against the installed headers
//! with pkg-config's flags, so layouts are always the library's own.

mod errors;
mod verify;

pub use errors::{MAX_FIELD, MAX_REPORTS, Report, capture_errors, take_errors};
pub use verify::{PinnedKeys, SignedReference, VerifyError, verify_signatures};
