// `sqlx::migrate!` embeds ./migrations at compile time, and cargo does not know: without
// this a new migration is missing from an incremental build.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
