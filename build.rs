//! Embeds `openapi.json` minified: the readable file stays the source, and
//! the Worker (served at `/_keygate/openapi.json`) carries ~40% fewer bytes.

use std::{env, fs, path::Path};

fn main() {
    println!("cargo:rerun-if-changed=openapi.json");
    let text = fs::read_to_string("openapi.json").expect("openapi.json");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("openapi.json is JSON");
    let out = Path::new(&env::var("OUT_DIR").expect("OUT_DIR")).join("openapi.min.json");
    fs::write(out, doc.to_string()).expect("write the minified document");
}
