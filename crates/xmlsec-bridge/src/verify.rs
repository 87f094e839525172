//! Signature verification with keys loaded once, KeyInfo ignored.

use std::ffi::{CString, c_char, c_int, c_long, c_uchar, c_void};
use std::ptr::NonNull;
use std::sync::{Arc, OnceLock};

/// `xmlSecKeyPtr` and `xmlDocPtr`, opaque here.
type KeyPtr = *mut c_void;
type DocPtr = *mut c_void;

type ReferenceCallback = unsafe extern "C" fn(
    user: *mut c_void,
    signature: usize,
    uri: *const c_uchar,
    data: *const c_uchar,
    size: usize,
);

unsafe extern "C" {
    fn rg_xmlsec_init() -> c_int;
    fn rg_key_load_spki(der: *const c_uchar, len: usize) -> KeyPtr;
    fn rg_key_destroy(key: KeyPtr);
    fn rg_doc_parse(buf: *const c_char, len: usize) -> DocPtr;
    fn rg_doc_free(doc: DocPtr);
    fn rg_register_ids(doc: DocPtr) -> c_int;
    fn rg_verify_signatures(
        doc: DocPtr,
        keys: *const KeyPtr,
        n_keys: usize,
        allowed: *const *const c_char,
        n_allowed: usize,
        cb: ReferenceCallback,
        user: *mut c_void,
    ) -> c_long;
}

/// xmlsec initialised for this process: by another library that uses it (samael), or here.
pub(crate) fn ready() -> Result<(), VerifyError> {
    static READY: OnceLock<bool> = OnceLock::new();
    // SAFETY: rg_xmlsec_init takes no arguments and runs once (OnceLock); it initialises
    // libxml2 and xmlsec only when no one has.
    let ok = *READY.get_or_init(|| unsafe { rg_xmlsec_init() } >= 0);
    if ok {
        Ok(())
    } else {
        Err(VerifyError::Internal("libxmlsec1 did not initialise"))
    }
}

/// One loaded public key. xmlsec never changes it after loading: verification works on a
/// duplicate (`xmlSecKeyDuplicate`, which takes a reference on the OpenSSL key).
struct Key(NonNull<c_void>);

// SAFETY: the key is immutable after `rg_key_load_spki` returns; the only operations on it are
// `xmlSecKeyDuplicate` (reads it, and atomically increments the OpenSSL key's reference count)
// from any thread, and `rg_key_destroy` once, in Drop, when no duplicate is being made.
unsafe impl Send for Key {}
// SAFETY: as above: shared access only reads.
unsafe impl Sync for Key {}

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: the pointer came from rg_key_load_spki and is destroyed exactly once.
        unsafe { rg_key_destroy(self.0.as_ptr()) }
    }
}

/// An IdP's pinned signing keys, loaded once; cheap to clone and share between workers.
#[derive(Clone)]
pub struct PinnedKeys(Arc<Vec<Key>>);

impl std::fmt::Debug for PinnedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PinnedKeys({} keys)", self.0.len())
    }
}

impl PinnedKeys {
    /// Loads public keys given as DER SubjectPublicKeyInfo (RSA or EC). Fails naming the
    /// position of a key xmlsec cannot load.
    pub fn from_spki_der<'a>(
        keys: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Self, VerifyError> {
        ready()?;
        let mut loaded = Vec::new();
        for (i, der) in keys.into_iter().enumerate() {
            // SAFETY: `der` is a live slice for the call; the shim copies what it keeps.
            let p = unsafe { rg_key_load_spki(der.as_ptr(), der.len()) };
            let key = NonNull::new(p).ok_or(VerifyError::KeyLoad(i))?;
            loaded.push(Key(key));
        }
        if loaded.is_empty() {
            return Err(VerifyError::NoKeys);
        }
        Ok(PinnedKeys(Arc::new(loaded)))
    }

    /// How many keys are pinned.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true: construction refuses an empty set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What one verified `ds:Reference` covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedReference {
    /// Which signature (0-based, document order) it belongs to.
    pub signature: usize,
    /// The Reference's URI (`#id`, or empty for the whole document).
    pub uri: Option<String>,
    /// The canonical bytes its digest was computed over: exactly what was signed.
    pub content: String,
}

/// Why a document did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// libxml2 could not parse it.
    NotXml,
    /// Two elements carry the same ID: which one a Reference means would be ambiguous.
    DuplicateId,
    /// No `ds:Signature` at all.
    NoSignature,
    /// A signature that verifies with none of the pinned keys (or uses an algorithm not
    /// allowed, or references something other than the document itself).
    NotVerified,
    /// The key at this position could not be loaded.
    KeyLoad(usize),
    /// No key given.
    NoKeys,
    /// A failure inside xmlsec unrelated to the document's validity.
    Internal(&'static str),
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyError::NotXml => write!(f, "not well-formed XML"),
            VerifyError::DuplicateId => write!(f, "two elements carry the same ID"),
            VerifyError::NoSignature => write!(f, "no signature"),
            VerifyError::NotVerified => write!(f, "a signature verifies with no pinned key"),
            VerifyError::KeyLoad(i) => write!(f, "key {i} could not be loaded"),
            VerifyError::NoKeys => write!(f, "no key pinned"),
            VerifyError::Internal(what) => write!(f, "xmlsec: {what}"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// A parsed document, freed on drop.
struct Doc(NonNull<c_void>);

impl Drop for Doc {
    fn drop(&mut self) {
        // SAFETY: the pointer came from rg_doc_parse and is freed exactly once.
        unsafe { rg_doc_free(self.0.as_ptr()) }
    }
}

/// What the reference callback collects; `bad` when a buffer was not UTF-8 (canonical XML
/// always is, so that is an internal failure).
#[derive(Default)]
struct Collected {
    references: Vec<SignedReference>,
    bad: bool,
}

/// Called by the shim for each verified Reference. Must not unwind into C: nothing here
/// panics (allocation failure aborts, it does not unwind).
unsafe extern "C" fn collect(
    user: *mut c_void,
    signature: usize,
    uri: *const c_uchar,
    data: *const c_uchar,
    size: usize,
) {
    // SAFETY: `user` is the `&mut Collected` passed to rg_verify_signatures, alive and not
    // otherwise borrowed for the duration of that call, which is when this runs.
    let out = unsafe { &mut *user.cast::<Collected>() };
    let bytes: &[u8] = if size == 0 || data.is_null() {
        &[]
    } else {
        // SAFETY: xmlsec's buffer holds `size` bytes at `data`, valid during the callback.
        unsafe { std::slice::from_raw_parts(data, size) }
    };
    let uri = (!uri.is_null()).then(|| {
        // SAFETY: a NUL-terminated string owned by the reference context, valid during the call.
        let c = unsafe { std::ffi::CStr::from_ptr(uri.cast::<c_char>()) };
        String::from_utf8_lossy(c.to_bytes()).into_owned()
    });
    match std::str::from_utf8(bytes) {
        Ok(s) => out.references.push(SignedReference {
            signature,
            uri,
            content: s.to_owned(),
        }),
        Err(_) => out.bad = true,
    }
}

/// Verifies every `ds:Signature` in `xml` with one of `keys`, xmlsec allowed to run only the
/// algorithms named in `allowed` (URIs of signature, digest, canonicalization and transform
/// algorithms), and returns what each Reference covered. Every `ID` attribute is registered
/// (any non-empty value; a duplicate fails the document).
pub fn verify_signatures(
    xml: &str,
    keys: &PinnedKeys,
    allowed: &[&str],
) -> Result<Vec<SignedReference>, VerifyError> {
    ready()?;
    // libxml2 never prints to stderr on this thread, whether or not the caller captures
    // reports (without a sink they are dropped).
    crate::errors::silence_libxml_on_this_thread();
    let allowed: Vec<CString> = allowed
        .iter()
        .map(|a| CString::new(*a).map_err(|_| VerifyError::Internal("an algorithm URI has NUL")))
        .collect::<Result<_, _>>()?;
    let allowed_ptrs: Vec<*const c_char> = allowed.iter().map(|c| c.as_ptr()).collect();
    let key_ptrs: Vec<KeyPtr> = keys.0.iter().map(|k| k.0.as_ptr()).collect();

    // SAFETY: a live buffer of `xml.len()` bytes for the call; libxml2 copies what it keeps.
    let doc = NonNull::new(unsafe { rg_doc_parse(xml.as_ptr().cast::<c_char>(), xml.len()) })
        .map(Doc)
        .ok_or(VerifyError::NotXml)?;
    // SAFETY: `doc` is a live document owned by this function.
    match unsafe { rg_register_ids(doc.0.as_ptr()) } {
        0 => {}
        -1 => return Err(VerifyError::DuplicateId),
        _ => return Err(VerifyError::Internal("registering an ID failed")),
    }
    let mut collected = Collected::default();
    // SAFETY: the document, keys and algorithm strings outlive the call (owned or borrowed
    // here); the keys are only duplicated; `collected` is borrowed by the callback alone
    // during the call.
    let rc = unsafe {
        rg_verify_signatures(
            doc.0.as_ptr(),
            key_ptrs.as_ptr(),
            key_ptrs.len(),
            allowed_ptrs.as_ptr(),
            allowed_ptrs.len(),
            collect,
            std::ptr::from_mut(&mut collected).cast::<c_void>(),
        )
    };
    drop(doc);
    match rc {
        0 => Err(VerifyError::NoSignature),
        -1 => Err(VerifyError::NotVerified),
        n if n < 0 => Err(VerifyError::Internal("verification failed inside xmlsec")),
        _ if collected.bad => Err(VerifyError::Internal("canonical XML is not UTF-8")),
        _ => Ok(collected.references),
    }
}
