//! A wrapper for values that must never reach a log line, an error message or a panic.
//!
//! `Secret` implements neither `Display` nor a revealing `Debug`, so `{:?}` on a struct that
//! holds one prints `Secret(<redacted>)`. Reading the value needs an explicit `expose()`, which
//! makes every use easy to find in review (the openidconnect-rs pattern). Its memory is
//! overwritten when it is dropped (`zeroize`), so a freed secret does not linger in the heap
//! for a core dump or a later out-of-bounds read to find.

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// A value that never prints (Debug shows `Secret(<redacted>)`) and is overwritten in memory on drop.
#[derive(Clone, Default)]
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    pub(crate) fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<T: Zeroize + AsRef<[u8]>> Secret<T> {
    /// Constant-time equality, so comparing a presented token leaks nothing through timing.
    pub(crate) fn ct_eq(&self, other: &[u8]) -> bool {
        self.0.as_ref().ct_eq(other).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("hunter2".to_string());
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert!(s.ct_eq(b"hunter2"));
        assert!(!s.ct_eq(b"hunter3"));
    }
}
