//! Compiles shim/verify.c against the installed libxmlsec1 headers, with pkg-config's flags
//! (they carry defines, such as XMLSEC_NO_SIZE_T, that change struct layouts).

fn main() {
    println!("cargo:rerun-if-changed=shim/verify.c");
    let xmlsec = pkg_config::Config::new()
        .atleast_version("1.2.30")
        .probe("xmlsec1")
        .expect("libxmlsec1 headers (scripts/install-build-deps installs libxmlsec1-dev)");
    let mut build = cc::Build::new();
    build
        .file("shim/verify.c")
        .warnings(true)
        .extra_warnings(true);
    for path in &xmlsec.include_paths {
        build.include(path);
    }
    for (name, value) in &xmlsec.defines {
        build.define(name, value.as_deref());
    }
    build.compile("rolegate_xmlsec_shim");
}
