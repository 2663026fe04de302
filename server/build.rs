//! Rebuild when migrations change: `sqlx::migrate!` embeds the folder, but
//! Cargo does not know to look at it. The same for the console: rust-embed
//! embeds `frontend/dist` (built by Trunk) into release builds.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
    // rust-embed resolves the folder when the broker is compiled. Debug
    // builds read the files at run time, but only from a folder that existed
    // at compile time (a missing one can never match later). An empty `dist`
    // (gitignored) serves the "console not built" page until Trunk fills it,
    // and gives `rerun-if-changed` a path that exists (a missing path would
    // rerun this script, and rebuild the crate, on every build).
    let _ = std::fs::create_dir_all("../frontend/dist");
    println!("cargo:rerun-if-changed=../frontend/dist");
}
