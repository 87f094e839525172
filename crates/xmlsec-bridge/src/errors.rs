//! xmlsec's and libxml2's error reports. By default libxmlsec1 prints every error it meets to
//! stderr — one raw line per failed digest or signature — and so does libxml2 (canonicalising a
//! namespace URI that does not parse, say): lines outside the broker's log format, so a JSON log
//! would stop being JSON under attack. [`capture_errors`] installs a callback that keeps them,
//! per thread and bounded, until [`take_errors`] hands them to the caller.
//!
//! The declarations are the ones in `<xmlsec/errors.h>`, unchanged since xmlsec 1.2. xmlsec's
//! OpenSSL backend installs its own printing callback when it initialises, so ours is installed
//! after [`crate::verify::ready`] has made sure that happened.

use std::cell::RefCell;
use std::ffi::{CStr, c_char, c_int};
use std::sync::Once;

/// At most this many reports are kept per thread between two [`take_errors`]: an attacker's
/// document can make xmlsec report many errors, and memory must not grow with them.
pub const MAX_REPORTS: usize = 16;
/// Each text field is cut at this many bytes (on a character boundary).
pub const MAX_FIELD: usize = 256;

/// One error report of libxmlsec1 (or of its OpenSSL backend).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The C function that reported it, e.g. `xmlSecOpenSSLEvpDigestVerify`.
    pub func: String,
    /// The object concerned (a transform such as `sha256`), or empty.
    pub object: String,
    /// The subject, or empty.
    pub subject: String,
    /// xmlsec's reason code (`XMLSEC_ERRORS_R_*`).
    pub reason: i32,
    /// xmlsec's message, e.g. `data and digest do not match`.
    pub message: String,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.func)?;
        if !self.object.is_empty() && self.object != "unknown" {
            write!(f, " ({})", self.object)?;
        }
        write!(f, ": {} [reason {}]", self.message, self.reason)
    }
}

type Callback = unsafe extern "C" fn(
    file: *const c_char,
    line: c_int,
    func: *const c_char,
    error_object: *const c_char,
    error_subject: *const c_char,
    reason: c_int,
    msg: *const c_char,
);

#[link(name = "xmlsec1")]
unsafe extern "C" {
    fn xmlSecErrorsSetCallback(callback: Option<Callback>);
}

// shim/verify.c: libxml2's errors into the same sink.
unsafe extern "C" {
    fn rg_libxml_errors_to(sink: Option<Callback>);
    fn rg_libxml_errors_on_this_thread();
}

thread_local! {
    static REPORTS: RefCell<(Vec<Report>, usize)> = const { RefCell::new((Vec::new(), 0)) };
}

/// A C string from xmlsec, bounded and lossily decoded; empty for NULL.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that lives for the call.
unsafe fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: the caller guarantees a live NUL-terminated string (xmlsec passes literals or
    // buffers it owns for the duration of the callback).
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    let mut s = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_FIELD * 4)]).into_owned();
    if s.len() > MAX_FIELD {
        let mut cut = MAX_FIELD;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// Called by libxmlsec1 on the thread that met the error. It must not unwind into C: nothing
/// here panics (bounded pushes, lossy decoding), and `try_with` tolerates a thread being torn down.
unsafe extern "C" fn keep(
    _file: *const c_char,
    _line: c_int,
    func: *const c_char,
    error_object: *const c_char,
    error_subject: *const c_char,
    reason: c_int,
    msg: *const c_char,
) {
    // SAFETY: xmlsec passes NULL or NUL-terminated strings valid during this call.
    let report = unsafe {
        Report {
            func: text(func),
            object: text(error_object),
            subject: text(error_subject),
            reason,
            message: text(msg).trim_end().to_string(),
        }
    };
    let _ = REPORTS.try_with(|r| {
        if let Ok(mut r) = r.try_borrow_mut() {
            if r.0.len() < MAX_REPORTS {
                r.0.push(report);
            } else {
                r.1 += 1;
            }
        }
    });
}

/// Routes libxmlsec1's error reports, and libxml2's on this thread, to [`take_errors`] instead
/// of stderr, once xmlsec is initialised (initialising it if no other library has). Idempotent
/// and cheap: call it on the verifying thread before each verification.
pub fn capture_errors() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if crate::verify::ready().is_ok() {
            // SAFETY: both set process-wide function pointers, before any thread reads them
            // (every verifying thread passes through this `Once` first); `keep` has exactly
            // the C signature of xmlSecErrorsCallback and lives for the life of the process.
            unsafe {
                xmlSecErrorsSetCallback(Some(keep));
                rg_libxml_errors_to(Some(keep));
            }
        }
    });
    silence_libxml_on_this_thread();
}

/// Sets this thread's libxml2 error handler to the shim's, which forwards to the sink
/// [`capture_errors`] installed (or drops the report before it is installed).
pub(crate) fn silence_libxml_on_this_thread() {
    // SAFETY: stores a function pointer in libxml2's thread-local error state; the shim's
    // handler only reads the error it is given and calls `keep` (or nothing).
    unsafe { rg_libxml_errors_on_this_thread() };
}

/// The reports this thread collected since the last call (at most [`MAX_REPORTS`]), and how
/// many more were dropped.
pub fn take_errors() -> (Vec<Report>, usize) {
    REPORTS
        .try_with(|r| {
            let mut r = r.borrow_mut();
            let dropped = std::mem::take(&mut r.1);
            (std::mem::take(&mut r.0), dropped)
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    fn report(func: &str, msg: &str) {
        let func = CString::new(func).unwrap();
        let msg = CString::new(msg).unwrap();
        // SAFETY: valid NUL-terminated strings and NULLs, as xmlsec passes them.
        unsafe {
            keep(
                std::ptr::null(),
                1,
                func.as_ptr(),
                std::ptr::null(),
                std::ptr::null(),
                12,
                msg.as_ptr(),
            );
        };
    }

    #[test]
    fn reports_are_kept_per_thread_bounded_and_taken_once() {
        report(
            "xmlSecOpenSSLEvpDigestVerify",
            "data and digest do not match",
        );
        let (r, dropped) = take_errors();
        assert_eq!(dropped, 0);
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].to_string(),
            "xmlSecOpenSSLEvpDigestVerify: data and digest do not match [reason 12]"
        );
        assert!(take_errors().0.is_empty(), "taken once");
        for _ in 0..(MAX_REPORTS + 5) {
            report("f", "m");
        }
        let (r, dropped) = take_errors();
        assert_eq!((r.len(), dropped), (MAX_REPORTS, 5));
        std::thread::spawn(|| report("other", "thread"))
            .join()
            .unwrap();
        assert!(
            take_errors().0.is_empty(),
            "another thread's reports stay there"
        );
    }

    #[test]
    fn long_or_invalid_text_is_cut_and_decoded_lossily() {
        report(&"é".repeat(1000), "bad \u{fffd}");
        let (r, _) = take_errors();
        assert!(r[0].func.len() <= MAX_FIELD && r[0].func.starts_with('é'));
    }
}
