/*
 * The C half of rolegate-xmlsec: the few libxmlsec1/libxml2 calls that need struct fields
 * (xmlSecDSigCtx, xmlSecDSigReferenceCtx) or macros, compiled against the installed headers
 * with pkg-config's flags, so their layout is always the library's own. Everything else —
 * ownership, bounds, the API — is Rust (src/lib.rs). No function here keeps a pointer it was
 * given beyond its return.
 */
#include <limits.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/valid.h>
#include <libxml/xmlerror.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/keys.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/crypto.h>

/* 1 when this call initialised xmlsec, 0 when it already was (by another library in the
 * process, e.g. samael), < 0 on failure. The transform registry is empty until xmlSecInit has
 * run and is never emptied afterwards: that is the test. */
int rg_xmlsec_init(void) {
    xmlSecPtrListPtr registry = xmlSecTransformIdsGet();
    if (registry->id != NULL && xmlSecPtrListGetSize(registry) > 0) {
        return 0;
    }
    xmlInitParser();
    if (xmlSecInit() < 0) return -1;
    if (xmlSecCheckVersion() != 1) return -2;
    if (xmlSecCryptoAppInit(NULL) < 0) return -3;
    if (xmlSecCryptoInit() < 0) return -4;
    return 1;
}

/* libxml2's own errors (canonicalisation of a namespace URI that does not parse, say) go to its
 * generic handler, which prints to stderr: an attacker's Response would write raw lines into a
 * JSON log. They are routed to the same sink as xmlsec's reports instead. The sink is set once
 * (rg_libxml_errors_to, before any verification); libxml2's handler is per thread, so each
 * verifying thread installs it (rg_libxml_errors_on_this_thread, a thread-local store). */
typedef void (*rg_report_fn)(const char *file, int line, const char *func, const char *object,
                             const char *subject, int reason, const char *msg);
static rg_report_fn rg_report = NULL;

#if LIBXML_VERSION >= 21200
static void rg_libxml_error(void *ctx, const xmlError *err) {
#else
static void rg_libxml_error(void *ctx, xmlErrorPtr err) {
#endif
    (void)ctx;
    if (rg_report == NULL || err == NULL) return;
    rg_report(NULL, 0, err->domain == XML_FROM_C14N ? "libxml2 c14n" : "libxml2", NULL, NULL,
              err->code, err->message);
}

void rg_libxml_errors_to(rg_report_fn sink) { rg_report = sink; }

void rg_libxml_errors_on_this_thread(void) { xmlSetStructuredErrorFunc(NULL, rg_libxml_error); }

/* A public key from DER (SubjectPublicKeyInfo), or NULL. */
xmlSecKeyPtr rg_key_load_spki(const unsigned char *der, size_t len) {
    if (der == NULL || len == 0 || len > (size_t)INT_MAX) return NULL;
    return xmlSecCryptoAppKeyLoadMemory(der, (xmlSecSize)len, xmlSecKeyDataFormatDer, NULL, NULL, NULL);
}

void rg_key_destroy(xmlSecKeyPtr key) {
    if (key != NULL) xmlSecKeyDestroy(key);
}

/* The document, parsed without network access, or NULL. The strict pre-parse has already
 * refused DTDs, entities and PIs; NONET is the second lock. libxml2 reports nothing to stderr
 * (NOERROR, NOWARNING): a document that does not parse is simply refused. */
xmlDocPtr rg_doc_parse(const char *buf, size_t len) {
    if (buf == NULL || len > (size_t)INT_MAX) return NULL;
    return xmlReadMemory(buf, (int)len, NULL, NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

void rg_doc_free(xmlDocPtr doc) {
    if (doc != NULL) xmlFreeDoc(doc);
}

/* The next element after `node` in document order (depth first), or NULL. */
static xmlNodePtr next_element(xmlNodePtr node) {
    if (node->children != NULL) {
        for (xmlNodePtr c = node->children; c != NULL; c = c->next)
            if (c->type == XML_ELEMENT_NODE) return c;
    }
    for (xmlNodePtr n = node; n != NULL; n = n->parent) {
        if (n->type != XML_ELEMENT_NODE) return NULL;
        for (xmlNodePtr s = n->next; s != NULL; s = s->next)
            if (s->type == XML_ELEMENT_NODE) return s;
    }
    return NULL;
}

/* Registers every unqualified `ID` attribute as an XML ID, so that `#id` References resolve.
 * Any non-empty value is accepted (libxml2's id() and xmlsec's xpointer resolve non-NCName IDs
 * too; the Reference naming one is itself covered by the signature). A value seen twice makes
 * the whole document fail (-1): which element a Reference means must never be ambiguous. */
int rg_register_ids(xmlDocPtr doc) {
    xmlNodePtr root = xmlDocGetRootElement(doc);
    for (xmlNodePtr n = root; n != NULL; n = next_element(n)) {
        xmlAttrPtr attr = xmlHasNsProp(n, BAD_CAST "ID", NULL);
        if (attr == NULL || attr->type != XML_ATTRIBUTE_NODE) continue;
        xmlChar *value = xmlNodeListGetString(doc, attr->children, 1);
        if (value == NULL) continue;
        int rc = 0;
        if (value[0] != 0) {
            if (xmlGetID(doc, value) != NULL) rc = -1;
            else if (xmlAddID(NULL, doc, value, attr) == NULL) rc = -2;
        }
        xmlFree(value);
        if (rc < 0) return rc;
    }
    return 0;
}

typedef void (*rg_reference_cb)(void *user, size_t signature, const unsigned char *uri,
                                const unsigned char *data, size_t size);

static int is_dsig_signature(xmlNodePtr n) {
    return n->ns != NULL && xmlStrEqual(n->ns->href, xmlSecDSigNs) &&
           xmlStrEqual(n->name, xmlSecNodeSignature);
}

/* One Signature node with one key: 1 verified (references reported), 0 not, < 0 error. */
static int verify_with(xmlNodePtr sig, xmlSecKeyPtr key, const char *const *allowed,
                       size_t n_allowed, size_t index, rg_reference_cb cb, void *user) {
    xmlSecDSigCtxPtr ctx = xmlSecDSigCtxCreate(NULL);
    if (ctx == NULL) return -1;
    int result = 0;
    ctx->flags |= XMLSEC_DSIG_FLAGS_STORE_SIGNEDINFO_REFERENCES;
    /* Only "" and "#id" References: never a file or a URL. */
    ctx->enabledReferenceUris = xmlSecTransformUriTypeEmpty | xmlSecTransformUriTypeSameDocument;
    for (size_t i = 0; i < n_allowed; i++) {
        xmlSecTransformId id = xmlSecTransformIdListFindByHref(
            xmlSecTransformIdsGet(), BAD_CAST allowed[i], xmlSecTransformUsageAny);
        if (id == xmlSecTransformIdUnknown) continue;
        if (xmlSecDSigCtxEnableReferenceTransform(ctx, id) < 0 ||
            xmlSecDSigCtxEnableSignatureTransform(ctx, id) < 0) {
            result = -2;
            goto done;
        }
    }
    /* The pinned key, preset: xmlsec then never reads the signature's KeyInfo. */
    ctx->signKey = xmlSecKeyDuplicate(key);
    if (ctx->signKey == NULL) {
        result = -3;
        goto done;
    }
    if (xmlSecDSigCtxVerify(ctx, sig) < 0 || ctx->status != xmlSecDSigStatusSucceeded) {
        result = 0; /* a failed check or a key of another type: try the next key */
        goto done;
    }
    xmlSecSize count = xmlSecPtrListGetSize(&ctx->signedInfoReferences);
    for (xmlSecSize i = 0; i < count; i++) {
        xmlSecDSigReferenceCtxPtr ref =
            (xmlSecDSigReferenceCtxPtr)xmlSecPtrListGetItem(&ctx->signedInfoReferences, i);
        if (ref == NULL || ref->status != xmlSecDSigStatusSucceeded) {
            result = -4;
            goto done;
        }
        xmlSecBufferPtr buf = xmlSecDSigReferenceCtxGetPreDigestBuffer(ref);
        if (buf == NULL) {
            result = -5;
            goto done;
        }
        cb(user, index, ref->uri, xmlSecBufferGetData(buf), (size_t)xmlSecBufferGetSize(buf));
    }
    result = 1;
done:
    xmlSecDSigCtxDestroy(ctx);
    return result;
}

/* Every ds:Signature in the document, in document order, verified with one of `keys` (never a
 * key from the document). Returns the number of signatures when each verified (their
 * references' pre-digest bytes given to `cb`), 0 when there is none, -1 when one verifies with
 * no key, < -1 on errors. `allowed` lists the algorithm URIs xmlsec may run (signature,
 * digest, canonicalization, transforms); any other is refused by xmlsec itself. */
long rg_verify_signatures(xmlDocPtr doc, xmlSecKeyPtr const *keys, size_t n_keys,
                          const char *const *allowed, size_t n_allowed, rg_reference_cb cb,
                          void *user) {
    size_t signatures = 0;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    for (xmlNodePtr n = root; n != NULL; n = next_element(n)) {
        if (!is_dsig_signature(n)) continue;
        int verified = 0;
        for (size_t k = 0; k < n_keys && !verified; k++) {
            int rc = verify_with(n, keys[k], allowed, n_allowed, signatures, cb, user);
            if (rc < 0) return -1 + rc; /* -2 … -6 */
            verified = rc;
        }
        if (!verified) return -1;
        signatures++;
    }
    return (long)signatures;
}
