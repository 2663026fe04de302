//! Rebuild when migrations change: `sqlx::migrate!` embeds the folder, but
//! Cargo does not know to look at it.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
