//! Rebuild when migrations change: `sqlx::migrate!` embeds the folder, but
//! Cargo does not know to look at it. The same for the console: rust-embed
//! embeds `frontend/dist` (built by Trunk) into release builds.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
    // A path that does not exist would make Cargo rerun this script (and
    // rebuild the crate) every time; before the first UI build, watch the
    // folder that `dist` will appear in instead.
    if std::path::Path::new("../frontend/dist").exists() {
        println!("cargo:rerun-if-changed=../frontend/dist");
    } else {
        println!("cargo:rerun-if-changed=../frontend");
    }
}
