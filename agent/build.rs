//! Only tells cargo to relink the agent when `link/hot-text.ld` changes: the image and bench
//! builds link with it (`-C link-arg=-Wl,-T,agent/link/hot-text.ld`, see bench/hot_text.py), and
//! cargo does not otherwise know the file is an input.

fn main() {
    println!("cargo:rerun-if-changed=link/hot-text.ld");
}
